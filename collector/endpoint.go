package collector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// errSkipped answers a scrape for which the guard made no call and no
// answer could be reused: none young enough, or the latest call failed.
type errSkipped struct {
	reason string
	until  time.Time
	keep   time.Duration // how old a reused answer may be
	failed bool          // the latest call failed
}

func (e errSkipped) Error() string {
	instead := "no answer at most " + humanize(e.keep) + " old to reuse"
	if e.failed {
		instead = "the latest call failed"
	}
	return fmt.Sprintf("no API call (%s) until %s, and %s", e.reason, e.until.UTC().Format(time.RFC3339), instead)
}

// minCallTime is the least time a call started for a scrape is given,
// within the account timeout, even when the scrape has less: the key's
// budget was spent on it. A client scraping with a deadline of a
// millisecond would otherwise spend every slot of the ceiling on calls
// abandoned before any answer could come, and every other scraper of the
// account would see its balance age; a scrape too hurried for the API
// shows the last good answer, and the call refreshes it for the next.
const minCallTime = time.Second

// errGaveUp answers a scrape whose deadline passed while the call it waited
// for was still queued or running, with no good answer to show instead.
// The call goes on and counts its own outcome, once.
var errGaveUp = errors.New("scrape deadline reached while the API call was queued or running; it goes on for the next scrape")

// endpointState is one account's state for one endpoint, and the one
// owner of a call's life: a scrape asks it for an answer (begin: the cache,
// the last good answer, or the call in flight it joins or starts), the
// guard of the key decides whether a call is made, the call waits for a
// slot of the pool (run, takeOff), is made and counted (call), and every
// scrape that joined it waits for its outcome (wait) or shows the last good
// answer instead (reuse).
type endpointState struct {
	a        *caller  // its account's: what its calls are made with
	scraper  *Scraper // the exporter's, shared by every account
	balance  bool     // the account's balance: first claim on the key's budget
	requests atomic.Uint64
	// counts are the error counters, by sunor.Reasons, then the skip
	// counters, by skipReasons: every reason from the start, in the order
	// of counterReasons and of the policy's label sets (series.go). An
	// array rather than a map per kind: no lookup by name on every scrape,
	// and a tenth of the memory.
	counts  []atomic.Uint64
	seen    seen          // for the status page
	latency callHistogram // every call's duration (latency.go)

	mu     sync.Mutex
	flight *flight   // the call queued or in flight, shared by every scrape
	last   []float64 // the last good answer
	lastAt time.Time // zero until the first success
	// lastFailed: the latest call failed, other than by a 429. Its last
	// answer is not served while a refresh waits or the guard makes no
	// call. A 429 is the API guarding the key's budget, not an API that
	// fails: the back-off it starts shows the last good answer.
	lastFailed bool
	skipRun    string // the reason of the current run of skipped calls
	// budgetLogged is when a run of budget skips was last logged.
	budgetLogged time.Time
}

func newEndpointState(a *caller, s *Scraper) *endpointState {
	return &endpointState{a: a, scraper: s, balance: s.Name() == Balance.Name(), counts: make([]atomic.Uint64, len(counterReasons))}
}

// countError counts one failed call of reason r.
func (st *endpointState) countError(r sunor.Reason) {
	st.counts[slices.Index(sunor.Reasons, r)].Add(1)
}

// countSkip counts one scrape answered without a call, for reason.
func (st *endpointState) countSkip(reason string) {
	st.counts[len(sunor.Reasons)+slices.Index(skipReasons, reason)].Add(1)
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
// until it ends. It outlives the scrape that started it: a call queued
// behind --sunor.max-concurrent-calls runs when a slot frees, to refresh
// the answer the next scrape shows.
//
// golang.org/x/sync/singleflight would share the call too, but the call
// would carry the deadline of whichever scrape started it, and it has no
// notion of a queued call. A call started at once for a waiting scrape is
// abandoned at its most patient waiter's deadline, within the account
// timeout, which moves later as such waiters join: a scraper in a hurry
// does not make a patient Prometheus that joined its call report a
// failure, and a scrape still counts the timeout of its own call. A call
// that waited in the queue is a background refresh: it has the account
// timeout.
type flight struct {
	done chan struct{} // closed once res is set and counted
	res  result
	slot *slot // the guard's slot, nil without a ceiling

	guard   *guard // the guard slot is of: the key's the call is charged to
	claimed *guard // the guard an optional endpoint's call was claimed of (claimOptional)

	// Guarded by the endpoint's mu.
	queued   bool      // waiting for a call slot
	deadline time.Time // when the call is abandoned: its most patient waiter's
	latest   time.Time // the account timeout once running: no waiter extends past it
	timer    *time.Timer
	cancel   context.CancelFunc
	expired  bool
}

// An ask is one endpoint's answer in one scrape: known at once, or the
// call to wait for.
type ask struct {
	st       *endpointState
	f        *flight // nil: r is the answer
	r        result
	began    time.Time
	deadline time.Time
}

// begin answers st at once from the cache, or from the last good answer
// when the guard says no call or the refresh waits behind the cap on
// calls; else it returns the call to wait for, joined or started: a call
// it starts runs until deadline, and at least until least. Times of
// answers and of the guard are a.now's; deadlines are the real clock's.
func (st *endpointState) begin(ctx context.Context, deadline, least time.Time) (result, *flight) {
	a := st.a
	now := a.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if ttl := a.cacheTTL(); ttl > 0 {
		if r, ok := st.reuse(now, ttl-time.Nanosecond); ok {
			st.countSkip(skipCache)
			st.decide(ctx, now, skipCache, "an answer younger than the cache TTL (--sunor.cache-ttl): no call", st.lastAt.Add(ttl))
			return r, nil
		}
	}
	f := st.flight
	if f == nil {
		if ctx.Err() != nil {
			// The scrape is over already: no call that nobody would wait
			// for, and no slot of the budget spent on it.
			st.decide(ctx, now, "late", "the scrape was over before a call could start: no call", time.Time{})
			return st.instead(now), nil
		}
		g := a.guard.Load()
		if !st.balance {
			switch ok, first := g.claimOptional(now); {
			case first:
				// Another account of the key is making the first call:
				// whether the API has the endpoint is not known yet.
				st.decide(ctx, now, "waiting", "another account of this key is calling this endpoint first, to learn whether the API has it: no call", time.Time{})
				return st.instead(now), nil
			case !ok:
				// The API does not have it (see missingState): no call.
				st.decide(ctx, now, "missing", "the API answered 404 for this endpoint: no call of it for a while", time.Time{})
				return result{err: errMissing}, nil
			}
		}
		s, reason, until := g.allow(now, st.balance, st.age(now))
		if reason != "" {
			if !st.balance {
				g.optionalDone(now, false, false, nil) // the claim, unused
			}
			return st.skip(ctx, now, reason, until), nil
		}
		if st.skipRun == skipBackoff || st.skipRun == skipReserve {
			a.info("Calling the Sunor API again", "endpoint", st.scraper.Name(), "after", st.skipRun)
		}
		st.skipRun = ""
		f = &flight{done: make(chan struct{}), slot: s, guard: g, claimed: g}
		st.flight = f
		// The key's budget is spent on this call: it gets a fair chance
		// to answer, whatever the deadline of the scrape that starts it.
		f.extend(least)
		f.queued = !a.calls.submit(st.balance, func(queued bool) { st.run(f, queued) })
		if f.queued {
			st.decide(ctx, now, "queued", "the guard allowed a call; it waits for a slot of --sunor.max-concurrent-calls", time.Time{})
		} else {
			st.decide(ctx, now, "call", "the guard allowed a call", time.Time{})
		}
	} else if t := traceOf(ctx); t != nil {
		t.decided(st.scraper.Name(), &Decision{At: now, What: "joined", Why: "a call of this endpoint was already queued or in flight: this probe waits for it"})
	}
	f.extend(deadline)
	if f.queued {
		// Stale while revalidate: the call waits behind the cap on calls
		// in flight; the last answer, if good and young enough, is shown
		// now and the call refreshes it for a later scrape. An optional
		// endpoint never holds the scrape for a queued call: with many
		// accounts, the queue serves the balances first.
		if r := st.instead(now); r.ok || !st.balance {
			return r, nil
		}
	}
	return result{}, f
}

// age is how old the last good answer is at now; the longest duration
// when there is none. st.mu is held.
func (st *endpointState) age(now time.Time) time.Duration {
	if st.lastAt.IsZero() {
		return time.Duration(math.MaxInt64)
	}
	return now.Sub(st.lastAt)
}

// reusable returns the last good answer, if it may stand in for a call that
// is not done: at most maxAge old, and the latest call did not fail;
// st.mu is held.
func (st *endpointState) reusable(now time.Time, maxAge time.Duration) (result, bool) {
	if st.lastFailed {
		return result{}, false
	}
	return st.reuse(now, maxAge)
}

// instead is what a scrape shows in place of a call's outcome it does not
// wait for; st.mu is held.
func (st *endpointState) instead(now time.Time) result {
	if r, ok := st.reusable(now, MaxStale); ok {
		return r
	}
	return result{err: errGaveUp}
}

// skip answers a scrape for which the guard makes no call: the last good
// answer, if young enough and the latest call did not fail (see
// lastFailed), is reused. After a failure, a skipped scrape shows the
// failure still: were it up with an older answer, sunor_api_up would flap
// between 0 and 1 while the API fails, and an alert on it waiting `for:` a
// while would start over at every skip. It counts and logs the skip; st.mu
// is held.
func (st *endpointState) skip(ctx context.Context, now time.Time, reason string, until time.Time) result {
	a := st.a
	keep := max(MaxStale, a.cacheTTL())
	r, ok := st.reusable(now, keep)
	if !ok {
		r.err = errSkipped{reason, until, keep, st.lastFailed}
	}
	logIt := st.skipRun != reason
	if reason == skipBudget {
		// Under a tight scrape loop, calls and skips alternate as slots
		// free: one line per MaxStale, not per slot.
		logIt = logIt && (st.budgetLogged.IsZero() || now.Sub(st.budgetLogged) >= MaxStale)
		if logIt {
			st.budgetLogged = now
		}
	}
	st.skipRun = reason
	st.countSkip(reason)
	st.decide(ctx, now, reason, skipWhy[reason], until)
	if logIt {
		a.info("Not calling the Sunor API, to spare the key's request budget; "+skipShows(st, ok, keep),
			"endpoint", st.scraper.Name(), "reason", reason, "resume_at", until.UTC().Format(time.RFC3339))
	}
	return r
}

// skipShows says what a skipped scrape shows instead of a call: the last
// good answer only when there is one to reuse (after a restart and a 429
// there is none); st.mu is held.
func skipShows(st *endpointState, reused bool, keep time.Duration) string {
	switch {
	case reused:
		return "showing the last good answer while it is at most " + humanize(keep) + " old"
	case st.lastFailed:
		return "the latest call failed: sunor_api_up 0 until a call succeeds"
	case st.lastAt.IsZero():
		return "no good answer yet to show: sunor_api_up 0 until calls resume"
	}
	return "the last good answer is over " + humanize(keep) + " old: sunor_api_up 0 until calls resume"
}

// extend moves the flight's deadline to a waiter's, if that is later, up
// to the account timeout once the call runs; the endpoint's mu is held.
func (f *flight) extend(deadline time.Time) {
	if f.timer != nil && deadline.After(f.latest) {
		deadline = f.latest
	}
	if f.expired || !deadline.After(f.deadline) {
		return
	}
	f.deadline = deadline
	if f.timer != nil {
		f.timer.Reset(time.Until(deadline))
	}
}

// run makes the call of f when it gets its slot, and publishes its outcome,
// counted, to its waiters.
func (st *endpointState) run(f *flight, queued bool) {
	a := st.a
	key, g, sendKey := a.keyGuard()
	ctx, r, ok := st.takeOff(f, queued, g)
	if ok {
		if sendKey {
			ctx = accounts.WithKey(ctx, key) // the key read with its guard, not a newer one
		}
		r = st.call(ctx, f.guard)
	}
	if !st.balance {
		st.optionalDone(f.claimed, r)
	}
	if f.timer != nil {
		f.timer.Stop()
		f.cancel()
	}
	st.mu.Lock()
	defer close(f.done)
	defer st.mu.Unlock()
	if st.flight == f {
		st.flight = nil
	}
	if r.called {
		st.lastFailed = !r.ok && r.call.Reason != string(sunor.ReasonRateLimited)
		if r.ok {
			st.last, st.lastAt = r.values, a.now()
		}
	}
	f.res = r
}

// takeOff starts f's call: it dates the guard's slot and sets the call's
// deadline. g is the guard of the key the call sends: when the key changed
// since the call was granted, the slot moves to g, if g has one to give.
// A call that waited in the queue is not made when its account was
// removed meanwhile, or when a 429 or the reserve came; ok is then false
// and r is the answer instead.
func (st *endpointState) takeOff(f *flight, queued bool, g *guard) (ctx context.Context, r result, ok bool) {
	a := st.a
	st.mu.Lock()
	defer st.mu.Unlock()
	f.queued = false
	now := a.now()
	if a.removed.Load() {
		f.guard.release(f.slot)
		return nil, result{err: errGaveUp}, false
	}
	if g != f.guard {
		f.guard.release(f.slot)
		s, reason, until := g.allow(now, st.balance, st.age(now))
		if reason != "" {
			return nil, st.skip(context.Background(), now, reason, until), false
		}
		f.slot, f.guard = s, g
	}
	if reason, until := f.guard.start(f.slot, now); reason != "" {
		return nil, st.skip(context.Background(), now, reason, until), false
	}
	start := time.Now()
	f.latest = start.Add(a.timeout())
	if queued || f.deadline.After(f.latest) {
		f.deadline = f.latest
	}
	ctx, f.cancel = context.WithCancel(context.Background())
	f.timer = time.AfterFunc(f.deadline.Sub(start), func() { st.expire(f) })
	return ctx, result{}, true
}

// expire abandons the call when its deadline passes, unless a waiter moved
// the deadline meanwhile. New scrapes then start a call of their own.
func (st *endpointState) expire(f *flight) {
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

// wait waits for f's outcome until deadline, or until the scrape is
// cancelled. If the call is not done by then, the scrape shows the last
// good answer when it may stand in, else errGaveUp.
func (st *endpointState) wait(ctx context.Context, f *flight, deadline time.Time) result {
	a := st.a
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
	case <-timer.C:
	}
	st.mu.Lock()
	// A running call whose deadline is this scrape's is being abandoned
	// right now: its outcome, counted, is a moment away, and this scrape
	// should show its own timeout in its counters.
	ours := !f.queued && !f.deadline.After(deadline)
	r := st.instead(a.now())
	st.mu.Unlock()
	if ours {
		timer.Reset(time.Until(deadline.Add(time.Second)))
		select {
		case <-f.done:
			return f.res
		case <-timer.C:
		}
	}
	return r
}

// call makes one API call, charged to g, and counts its outcome.
func (st *endpointState) call(ctx context.Context, g *guard) result {
	a := st.a
	ep := st.scraper.Endpoint
	st.requests.Add(1)
	start := time.Now()
	v, rl, err := a.api.Fetch(sunor.OnRetry(ctx, func() { st.requests.Add(1) }), ep)
	r := result{values: v, called: true, duration: time.Since(start), rl: rl}
	st.latency.observe(r.duration)
	var e *sunor.Error
	if err != nil && ctx.Err() != nil && (!errors.As(err, &e) || e.Reason == sunor.ReasonTimeout) {
		// The call's deadline passed: say so, rather than the transport's
		// "context canceled", keeping the path called and the status of an
		// answer whose body did not come in time.
		t := &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonTimeout,
			Message: fmt.Sprintf("no answer within %s", r.duration.Round(time.Millisecond))}
		if e != nil {
			t.Path, t.StatusCode = e.Path, e.StatusCode
		}
		err = t
	}
	r.ok, r.err = err == nil, err
	r.call = st.recordCall(g, r)
	// Never the key: the URL is the redacted base URL and the path.
	kv := []any{"url", a.url + ep.Path, "status", r.call.Status, "duration", r.duration.Round(time.Microsecond)}
	if rl.HasRemaining {
		kv = append(kv, "rate_limit_remaining", rl.Remaining)
	}
	a.debug("Sunor API call", kv...)
	if until := g.observe(a.now(), rl); !until.IsZero() {
		a.debug("X-RateLimit-Remaining at or below the reserve: no calls with this key until the window resets",
			"remaining", rl.Remaining, "resume_at", until.UTC().Format(time.RFC3339))
	}
	if e := missingEndpoint(err); e != nil && !st.balance {
		// Counted, but logged once per key by optionalDone.
		st.countError(e.Reason)
	} else if err != nil {
		st.failed(g, err)
	}
	return r
}

// failed counts and logs one failed API call. A 429 also starts the
// back-off: the budget is per key, so it holds for every endpoint.
func (st *endpointState) failed(g *guard, err error) {
	a := st.a
	var e *sunor.Error
	if !errors.As(err, &e) {
		e = &sunor.Error{Endpoint: st.scraper.Name(), Reason: sunor.ReasonNetwork, Message: err.Error()}
	}
	st.countError(e.Reason)

	kv := []any{"msg", "Sunor API call failed", "endpoint", st.scraper.Name(), "reason", e.Reason, "status", e.StatusCode, "path", e.Path, "message", e.Message}
	logAt := level.Warn // passing trouble: it may go away by itself
	switch e.Reason {
	case sunor.ReasonRedirect:
		kv = append(kv, "location", e.Location, "hint", "redirects are not followed so the key goes nowhere else; set --sunor.url to the final URL")
		logAt = level.Error
	case sunor.ReasonUnauthorized, sunor.ReasonAPIError, sunor.ReasonDecode, sunor.ReasonHTTPStatus:
		logAt = level.Error // needs a person: a key, a URL, an API change
	case sunor.ReasonRateLimited:
		until, capped := g.backoff(a.now(), e.RetryAfter)
		kv = append(kv, "backoff_until", until.UTC().Format(time.RFC3339))
		if capped {
			kv = append(kv, "retry_after_capped", "Retry-After longer than "+MaxBackoff.String()+" is capped")
		}
	}
	_ = logAt(a.logger).Log(kv...)
}

// optionalDone applies the outcome of st's call to the key's state of
// its optional endpoints, in g, the guard the call was claimed of, and
// logs the one warning.
func (st *endpointState) optionalDone(g *guard, r result) {
	a := st.a
	first, back := g.optionalDone(a.now(), r.called, r.ok, r.err)
	e := missingEndpoint(r.err)
	switch {
	case first:
		_ = level.Warn(a.logger).Log("msg", "The Sunor API does not have this endpoint: it is switched off for every account of this key, and its calls go to the balance; tried again once an hour",
			"endpoint", st.scraper.Name(), "status", e.StatusCode, "path", e.Path, "retry_in", humanize(RetryMissing))
	case e != nil:
		a.debug("The Sunor API still does not have this endpoint", "endpoint", st.scraper.Name(), "status", e.StatusCode, "path", e.Path)
	case back:
		a.info("The Sunor API has this endpoint again", "endpoint", st.scraper.Name())
	}
}

// decide records the guard's decision for st, for the status page and, when
// ctx is a debug probe's, for its decision log; st.mu is held.
func (st *endpointState) decide(ctx context.Context, now time.Time, what, why string, until time.Time) {
	st.seen.decision = Decision{At: now, What: what, Why: why, Until: until}
	if t := traceOf(ctx); t != nil {
		d := st.seen.decision
		t.decided(st.scraper.Name(), &d)
	}
}

// recordCall keeps a call made, for the status page and the recent calls:
// Status is 0 when no answer came.
func (st *endpointState) recordCall(g *guard, r result) *Call {
	a := st.a
	ep := st.scraper.Endpoint
	c := &Call{At: a.now(), Account: a.name, Endpoint: ep.Name, Method: "GET", Path: ep.Path, Status: 200,
		Duration: r.duration, Remaining: r.rl.Remaining, HasRemaining: r.rl.HasRemaining}
	k := g.view(c.At)
	c.CallsLastMinute, c.Ceiling = k.CallsLastMinute, k.Ceiling
	err := r.err
	if err == nil {
		c.Fields, c.Values = ep.Fields, r.values
	} else if e := (*sunor.Error)(nil); errors.As(err, &e) {
		c.Status, c.Reason, c.Message, c.RetryAfter = e.StatusCode, string(e.Reason), e.Message, e.RetryAfter
		if e.Path != "" {
			c.Path = e.Path
		}
	} else {
		c.Status, c.Reason, c.Message = 0, string(sunor.ReasonNetwork), err.Error()
	}
	// The client cleaned the message of the key it sent; the page also
	// shows it to whoever can read /status, so it is cleaned of every key
	// in use, as a log line is (an API echoing another account's key, or
	// the key before a rotation).
	c.Message = redact.Known.Clean(c.Message, sunor.MaxTextChars)
	st.seen.call.Store(c)
	a.recent.add(c)
	return c
}
