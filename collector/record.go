package collector

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// What a person needs to see why an account's numbers are what they are:
// the last call of each endpoint, the guard's last decision and why, the
// key's budget, and the calls across all accounts. It is recorded as the
// collector goes (a store per decision, under the endpoint's lock, and an
// atomic one per call) and read by Status and RecentCalls without an API
// call and without holding any lock of the collector while the caller
// renders.

// result is what one scrape learned from one endpoint.
type result struct {
	values   []float64       // the answer's fields, when ok
	ok       bool            // a good answer: fresh, or reused without a call
	called   bool            // a call was made for this scrape (possibly shared)
	duration time.Duration   // of that call
	rl       sunor.RateLimit // headers of that call's answer
	err      error
	call     *Call // the record of that call, for the debug probe
}

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

// KeyStatus is the budget of the key an account's calls are charged to.
type KeyStatus struct {
	CallsLastMinute int       `json:"calls_last_minute"` // started within the last Window, and waiting to start
	Ceiling         int       `json:"ceiling"`           // 0: none
	Reserve         int       `json:"reserve"`
	BackoffUntil    time.Time `json:"backoff_until,omitzero"` // a 429's Retry-After
	ReserveUntil    time.Time `json:"reserve_until,omitzero"` // X-RateLimit-Remaining at the reserve
	BudgetFreeAt    time.Time `json:"budget_free_at,omitzero"`
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

// probeTrace is the decision log of one debug probe.
type probeTrace struct {
	mu        sync.Mutex
	decisions map[string][]*Decision // by endpoint
	results   []result
	endpoints []string
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

// answered keeps what each endpoint of the probed account gave, by the
// endpoints' names.
func (t *probeTrace) answered(results []result, endpoints []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results = slices.Clone(results)
	t.endpoints = endpoints
}
