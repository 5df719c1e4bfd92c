package collector

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
)

// What a person needs to see why an account's numbers are what they are:
// the last call of each endpoint, the guard's last decision and why, the
// key's budget, and the calls across all accounts. It is recorded as the
// collector goes (one atomic store per decision and per call) and read by
// Status and RecentCalls without an API call and without holding any lock
// of the collector while the caller renders.

// RecentCallsKept is how many API calls RecentCalls keeps, across all
// accounts: a bounded ring, whatever the number of accounts.
const RecentCallsKept = 100

// Call is one API call made (At: when its answer came, by the
// exporter's clock), as the status page and the debug probe show
// it. Message is the failure's text as the client made it: redacted of the
// key and cut (sunor.MaxTextChars), as in the logs.
type Call struct {
	At       time.Time     `json:"at"`
	Account  string        `json:"account"`
	Endpoint string        `json:"endpoint"`
	Method   string        `json:"method"`
	Path     string        `json:"path"` // never the query, never the key
	Status   int           `json:"status"`
	Duration time.Duration `json:"duration_ns"`
	// Reason is the failure's reason label (sunor_api_errors_total); ""
	// for a good answer.
	Reason     string        `json:"reason,omitempty"`
	Message    string        `json:"message,omitempty"`
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// Remaining is X-RateLimit-Remaining, when the answer carried it.
	Remaining    float64 `json:"rate_limit_remaining"`
	HasRemaining bool    `json:"has_rate_limit_remaining"`
	// Fields and Values are the answer's fields and their values, as
	// decoded, when good (the endpoint's and the answer's own slices,
	// shared read-only: a call costs one allocation here).
	Fields []string  `json:"fields,omitempty"`
	Values []float64 `json:"values,omitempty"`
	// CallsLastMinute and Ceiling are the key's calls in the last minute,
	// this one included, and its ceiling (0: none), when the guard let the
	// call be made.
	CallsLastMinute int `json:"guard_calls_last_minute"`
	Ceiling         int `json:"guard_ceiling"`
}

// Guard says what the budget guard allowed: "allowed: 3 of 12 calls in the
// last minute".
func (c Call) Guard() string {
	if c.Ceiling <= 0 {
		return "allowed: no ceiling"
	}
	return "allowed: " + strconv.Itoa(c.CallsLastMinute) + " of " + strconv.Itoa(c.Ceiling) + " calls in the last minute"
}

// Decision is the guard's latest decision for one endpoint of an account:
// what a scrape got instead of, or by, a call.
type Decision struct {
	At time.Time `json:"at"`
	// What: "call", "queued" (behind --sunor.max-concurrent-calls),
	// "joined" (a call already in flight), "cache", "budget", "backoff",
	// "reserve", "late" (the scrape was over before a call).
	What  string    `json:"what"`
	Why   string    `json:"why"`
	Until time.Time `json:"until,omitzero"` // when calls may resume, for a skip
}

// EndpointStatus is one endpoint of an account.
type EndpointStatus struct {
	Endpoint   string    `json:"endpoint"`
	LastGoodAt time.Time `json:"last_good_at,omitzero"`
	LastFailed bool      `json:"last_failed"` // the latest call failed, other than by a 429
	LastCall   *Call     `json:"last_call"`
	Decision   *Decision `json:"decision"`
}

// KeyStatus is the budget of the key an account's calls are charged to.
type KeyStatus struct {
	CallsLastMinute int       `json:"calls_last_minute"` // started within the last Window, and waiting to start
	Ceiling         int       `json:"ceiling"`           // 0: none
	Reserve         int       `json:"reserve"`
	BackoffUntil    time.Time `json:"backoff_until,omitzero"` // a 429's Retry-After
	ReserveUntil    time.Time `json:"reserve_until,omitzero"` // X-RateLimit-Remaining at the reserve
	BudgetFreeAt    time.Time `json:"budget_free_at,omitzero"`
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

// keySettings are the settings Settings takes from the configuration: the
// rest it reads from the account in force. Its strings are the
// configuration's own: an account costs no allocation here.
type keySettings struct {
	perMinute, reserve int
	keyFile, keyEnv    string
}

func keySettingsOf(cfg accounts.Account) keySettings {
	return keySettings{perMinute: cfg.MaxCallsPerMinute, reserve: cfg.RateLimitReserve, keyFile: cfg.APIKeyFile, keyEnv: cfg.APIKeyEnv}
}

// seen is what an endpoint's status shows: its last call, swapped whole,
// and the guard's last decision, under the endpoint's mu (every decision
// is taken under it), so that the decision of every scrape costs no
// allocation.
type seen struct {
	call     atomic.Pointer[Call]
	decision Decision
}

// callRing keeps the last RecentCallsKept calls of every account.
type callRing struct {
	mu    sync.Mutex
	calls [RecentCallsKept]*Call
	next  int
	n     int
}

func (r *callRing) add(c *Call) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[r.next] = c
	r.next = (r.next + 1) % len(r.calls)
	r.n = min(r.n+1, len(r.calls))
}

// newestFirst returns the calls kept, the newest first.
func (r *callRing) newestFirst() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, *r.calls[(r.next-i+len(r.calls))%len(r.calls)])
	}
	return out
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

// traceDecision adds a decision to the decision log of ctx's debug probe,
// if it is one.
func traceDecision(ctx context.Context, st *endpointState, now time.Time, what, why string, until time.Time) {
	if t := traceOf(ctx); t != nil {
		t.decided(st.scraper.Name(), &Decision{At: now, What: what, Why: why, Until: until})
	}
}

// probeTrace is the decision log of one debug probe.
type probeTrace struct {
	mu        sync.Mutex
	decisions map[string][]*Decision // by endpoint
	results   []result
	endpoints []string
	calls     []*Call // the calls the probe's endpoints ended with
}

type traceKey struct{}

func traceOf(ctx context.Context) *probeTrace {
	t, _ := ctx.Value(traceKey{}).(*probeTrace)
	return t
}

func (t *probeTrace) decided(endpoint string, d *Decision) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.decisions[endpoint] = append(t.decisions[endpoint], d)
}

// answered keeps what each endpoint of the probed account gave.
func (t *probeTrace) answered(a *account, results []result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results = slices.Clone(results)
	t.endpoints = t.endpoints[:0]
	t.calls = t.calls[:0]
	for _, st := range a.endpoints {
		t.endpoints = append(t.endpoints, st.scraper.Name())
		t.calls = append(t.calls, st.seen.call.Load())
	}
}

// skipWhy says in words why the guard made no call.
func skipWhy(reason string) string {
	switch reason {
	case skipBudget:
		return "the key's ceiling of calls a minute is spent (--sunor.max-calls-per-minute): no call"
	case skipBackoff:
		return "a 429's Retry-After is running: no call with this key until it ends"
	case skipReserve:
		return "X-RateLimit-Remaining is at or below the reserve (--sunor.rate-limit-reserve): no call until the window resets"
	}
	return reason
}
