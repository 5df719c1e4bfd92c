package collector

import "time"

// What the Exporter's Status gives the status page (internal/status):
// every account's state and settings, from what the collector records as
// it goes (record.go).

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
