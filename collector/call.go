package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// result is what one scrape learned from one endpoint.
type result struct {
	values   []float64       // the answer's fields, when ok
	ok       bool            // a good answer: fresh, or reused without a call
	called   bool            // a call was made for this scrape (possibly shared)
	duration time.Duration   // of that call
	rl       sunor.RateLimit // headers of that call's answer
	err      error
}

// errSkipped answers a scrape for which the guard made no call and no
// answer young enough could be reused.
type errSkipped struct {
	reason string
	until  time.Time
}

func (e errSkipped) Error() string {
	return fmt.Sprintf("no API call (%s) until %s, and no answer younger than %s to reuse", e.reason, e.until.UTC().Format(time.RFC3339), MaxStale)
}

// errGaveUp answers a scrape whose own deadline passed while it waited for a
// call that a more patient scrape keeps going. The call counts its own
// outcome, once.
var errGaveUp = errors.New("scrape deadline reached while waiting for the shared API call")

// endpointState is one account's state for one endpoint.
type endpointState struct {
	scraper  Scraper
	requests atomic.Uint64
	errors   map[sunor.Reason]*atomic.Uint64 // every reason, from the start
	skipped  map[string]*atomic.Uint64       // every skip reason, from the start

	mu      sync.Mutex
	flight  *flight   // the call in flight, shared by every scrape
	last    []float64 // the last good answer
	lastAt  time.Time // zero until the first success
	skipRun string    // the reason of the current run of skipped calls
	// budgetLogged is when a run of budget skips was last logged.
	budgetLogged time.Time
}

func newEndpointState(s Scraper) *endpointState {
	st := &endpointState{scraper: s, errors: map[sunor.Reason]*atomic.Uint64{}, skipped: map[string]*atomic.Uint64{}}
	for _, r := range sunor.Reasons {
		st.errors[r] = new(atomic.Uint64)
	}
	for _, r := range skipReasons {
		st.skipped[r] = new(atomic.Uint64)
	}
	return st
}

// reuse returns the last good answer if it is at most maxAge old; st.mu is
// held.
func (st *endpointState) reuse(now time.Time, maxAge time.Duration) (result, bool) {
	if st.lastAt.IsZero() || now.Sub(st.lastAt) > maxAge {
		return result{}, false
	}
	return result{values: st.last, ok: true}, true
}

// A flight is one API call, shared by every scrape that wants the endpoint
// while it runs. golang.org/x/sync/singleflight would share it too, but the
// call would then carry the deadline of whichever scrape started it: a
// scraper in a hurry (a 0.6 s timeout) would make a patient Prometheus that
// joined its call report a failure. A flight's deadline is instead that of
// its most patient waiter, within the account timeout, and moves later as
// such waiters join; each scrape still answers by its own deadline.
type flight struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed once res is set and counted
	res    result

	// Guarded by the endpoint's mu.
	deadline time.Time // when the call is abandoned: its most patient waiter's
	latest   time.Time // the account timeout: no waiter extends past it
	timer    *time.Timer
	expired  bool
}

// get answers one scrape for st: from the cache, from the last good answer
// when the guard says no call, else from a call shared with every
// concurrent scrape.
func (a *account) get(ctx context.Context, st *endpointState) result {
	now := a.now()
	deadline := time.Now().Add(a.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}

	st.mu.Lock()
	if a.cacheTTL > 0 {
		if r, ok := st.reuse(now, a.cacheTTL-time.Nanosecond); ok {
			st.mu.Unlock()
			st.skipped[skipCache].Add(1)
			return r
		}
	}
	f := st.flight
	var resumed string // the reason of a run of skipped calls this call ends
	if f == nil && ctx.Err() != nil {
		// The scrape's deadline passed before this account's turn (a
		// thousand accounts on one /metrics): no call that nobody would
		// wait for, and no token spent on it.
		st.mu.Unlock()
		err := &sunor.Error{Endpoint: st.scraper.Name(), Reason: sunor.ReasonTimeout,
			Message: "the scrape's deadline passed before this call could start"}
		a.failed(st, err)
		return result{err: err}
	}
	if f == nil {
		if reason, until := a.guard.allow(now); reason != "" {
			r, ok := st.reuse(now, max(MaxStale, a.cacheTTL))
			if !ok {
				r.err = errSkipped{reason, until}
			}
			logIt := st.skipRun != reason
			if reason == skipBudget {
				// Under a tight scrape loop, calls and skips alternate as
				// tokens refill: one line per MaxStale, not per refill.
				logIt = logIt && (st.budgetLogged.IsZero() || now.Sub(st.budgetLogged) >= MaxStale)
				if logIt {
					st.budgetLogged = now
				}
			}
			st.skipRun = reason
			st.mu.Unlock()
			st.skipped[reason].Add(1)
			if logIt {
				a.info("Not calling the Sunor API, to spare the key's request budget; reusing the last good answer while it is under 5 minutes old",
					"endpoint", st.scraper.Name(), "reason", reason, "resume_at", until.UTC().Format(time.RFC3339))
			}
			return r
		}
		resumed = st.skipRun
		st.skipRun = ""
		f = a.startFlight(st)
	}
	f.extend(deadline)
	st.mu.Unlock()
	if resumed == skipBackoff || resumed == skipReserve {
		a.info("Calling the Sunor API again", "endpoint", st.scraper.Name(), "after", resumed)
	}
	return a.wait(ctx, st, f, deadline)
}

// startFlight starts a call for st; st.mu is held.
func (a *account) startFlight(st *endpointState) *flight {
	f := &flight{done: make(chan struct{}), latest: time.Now().Add(a.timeout)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.timer = time.AfterFunc(a.timeout, func() { a.expire(st, f) })
	st.flight = f
	go a.run(st, f)
	return f
}

// extend moves the flight's deadline to a waiter's, if that is later, up
// to the account timeout; the endpoint's mu is held. The first waiter, who
// started the flight, sets it.
func (f *flight) extend(deadline time.Time) {
	if deadline.After(f.latest) {
		deadline = f.latest
	}
	if f.expired || !deadline.After(f.deadline) {
		return
	}
	f.deadline = deadline
	f.timer.Reset(time.Until(deadline))
}

// expire abandons the call when its deadline passes, unless a waiter moved
// the deadline meanwhile. New scrapes then start a call of their own.
func (a *account) expire(st *endpointState, f *flight) {
	st.mu.Lock()
	if d := time.Until(f.deadline); d > 0 {
		f.timer.Reset(d)
		st.mu.Unlock()
		return
	}
	f.expired = true
	if st.flight == f {
		st.flight = nil
	}
	st.mu.Unlock()
	f.cancel()
}

// run makes the call and publishes its outcome, counted, to its waiters.
func (a *account) run(st *endpointState, f *flight) {
	r := a.call(f.ctx, st)
	f.timer.Stop()
	f.cancel()
	st.mu.Lock()
	if st.flight == f {
		st.flight = nil
	}
	if r.ok {
		st.last, st.lastAt = r.values, a.now()
	}
	f.res = r
	st.mu.Unlock()
	close(f.done)
}

// wait waits for f's outcome until the scrape's deadline.
func (a *account) wait(ctx context.Context, st *endpointState, f *flight, deadline time.Time) result {
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		st.mu.Lock()
		ours := !f.deadline.After(deadline)
		st.mu.Unlock()
		if ours {
			// The call's deadline is this scrape's: it is being abandoned
			// right now. Its outcome, counted, is a moment away, and this
			// scrape should show its own timeout in its counters.
			select {
			case <-f.done:
				return f.res
			case <-time.After(time.Second):
			}
		}
	}
	return result{err: errGaveUp}
}

// call makes one API call: it waits for a slot among the exporter's calls
// in flight, then asks the API.
func (a *account) call(ctx context.Context, st *endpointState) result {
	name := st.scraper.Name()
	if a.calls != nil {
		if err := a.calls.Acquire(ctx, 1); err != nil {
			err := &sunor.Error{Endpoint: name, Reason: sunor.ReasonTimeout,
				Message: "deadline reached while queued behind --sunor.max-concurrent-calls other calls"}
			a.failed(st, err)
			return result{err: err}
		}
		defer a.calls.Release(1)
	}
	st.requests.Add(1)
	start := time.Now()
	v, rl, err := a.api.Fetch(sunor.OnRetry(ctx, func() { st.requests.Add(1) }), st.scraper.Endpoint)
	r := result{values: v, called: true, duration: time.Since(start), rl: rl}
	if until := a.guard.observe(a.now(), rl); !until.IsZero() {
		a.debug("X-RateLimit-Remaining at or below the reserve: no calls until the window resets",
			"remaining", rl.Remaining, "reserve", a.guard.reserve, "resume_at", until.UTC().Format(time.RFC3339))
	}
	if err != nil {
		var e *sunor.Error
		if ctx.Err() != nil && (!errors.As(err, &e) || e.Reason == sunor.ReasonTimeout) {
			// The flight's deadline passed: say so, rather than the
			// transport's "context canceled".
			err = &sunor.Error{Endpoint: name, Reason: sunor.ReasonTimeout,
				Message: fmt.Sprintf("no answer within %s", r.duration.Round(time.Millisecond))}
		}
		a.failed(st, err)
		r.err = err
		return r
	}
	r.ok = true
	return r
}
