package collector

import "time"

// The Exporter's views for the status page (internal/status): every
// account's state, its effective settings and the recent calls, from what
// the collector records as it goes (record.go).

// EndpointStatus is one endpoint of an account.
type EndpointStatus struct {
	Endpoint   string    `json:"endpoint"`
	LastGoodAt time.Time `json:"last_good_at,omitzero"`
	LastFailed bool      `json:"last_failed"` // the latest call failed, other than by a 429
	LastCall   *Call     `json:"last_call"`
	Decision   *Decision `json:"decision"`
}

// AccountStatus is what Status says of one account.
type AccountStatus struct {
	Name      string            `json:"account"`
	Labels    map[string]string `json:"labels"`
	Threshold float64           `json:"low_credits_threshold"`
	Budget    float64           `json:"daily_budget"`
	TaskCost  float64           `json:"task_cost"` // credits one task costs; 0: not configured
	Timeout   time.Duration     `json:"timeout_ns"`
	CacheTTL  time.Duration     `json:"cache_ttl_ns"`
	// Available and Frozen are the last good balance, if HasBalance.
	HasBalance bool             `json:"has_balance"`
	Available  float64          `json:"available"`
	Frozen     float64          `json:"frozen"`
	Endpoints  []EndpointStatus `json:"endpoints"` // the balance first
	Key        KeyStatus        `json:"key"`
}

// Settings are an account's effective settings after defaults, as the
// debug probe shows them: never the key, only where it comes from.
type Settings struct {
	Timeout           time.Duration
	CacheTTL          time.Duration
	MaxCallsPerMinute int
	RateLimitReserve  int
	Threshold         float64
	Budget            float64
	TaskCost          float64
	Labels            map[string]string
	URL               string // the redacted base URL
	KeySource         string // "key file PATH" or "environment variable NAME"
}

// RecentCalls returns the last RecentCallsKept API calls across all
// accounts, the newest first.
func (e *Exporter) RecentCalls() []Call { return e.recent.newestFirst() }

// Status returns the state of every account in force, in the order they
// were given. It makes no API call; each account's state is read under
// its own locks, one at a time, and none is held on return.
func (e *Exporter) Status() []AccountStatus {
	accts := e.snapshot()
	now := e.opts.Now()
	out := make([]AccountStatus, len(accts))
	for i, a := range accts {
		out[i] = accountStatus(a, now)
	}
	return out
}

// Settings returns the effective settings of the account name, and false
// if there is no such account.
func (e *Exporter) Settings(name string) (Settings, bool) {
	e.mu.RLock()
	a, k := e.byName[name], e.settings[name]
	e.mu.RUnlock()
	if a == nil {
		return Settings{}, false
	}
	p, t := a.policy.Load(), a.timing.Load()
	src := "the account's own client (tests)"
	switch {
	case k.keyFile != "":
		src = "key file " + k.keyFile
	case k.keyEnv != "":
		src = "environment variable " + k.keyEnv
	}
	return Settings{Timeout: t.timeout, CacheTTL: t.cacheTTL, MaxCallsPerMinute: k.perMinute, RateLimitReserve: k.reserve,
		Threshold: p.threshold, Budget: p.budget, TaskCost: p.taskCost, Labels: p.labels(), URL: a.url, KeySource: src}, true
}

// accountStatus is what Status says of a at now.
func accountStatus(a *account, now time.Time) AccountStatus {
	p, t := a.policy.Load(), a.timing.Load()
	s := AccountStatus{Name: a.name, Labels: p.labels(), Threshold: p.threshold, Budget: p.budget, TaskCost: p.taskCost,
		Timeout: t.timeout, CacheTTL: t.cacheTTL, Key: a.guard.Load().view(now)} // the guard of the key the account sent last: see keyGuard
	for i, st := range a.endpoints {
		es := EndpointStatus{Endpoint: st.scraper.Name(), LastCall: st.seen.call.Load()}
		st.mu.Lock()
		es.LastGoodAt, es.LastFailed = st.lastAt, st.lastFailed
		if d := st.seen.decision; d.What != "" {
			es.Decision = &d
		}
		if i == 0 && !st.lastAt.IsZero() && len(st.last) >= 2 {
			s.HasBalance, s.Available, s.Frozen = true, st.last[0], st.last[1]
		}
		st.mu.Unlock()
		s.Endpoints = append(s.Endpoints, es)
	}
	return s
}
