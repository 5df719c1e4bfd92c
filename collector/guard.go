package collector

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

const (
	// MaxStale is how old a reused answer may be, when the guard skips a
	// call or while the account's refresh waits for a call slot: older,
	// and the scrape shows sunor_api_up 0 rather than a number nobody can
	// vouch for.
	MaxStale = 5 * time.Minute
	// MaxBackoff caps a 429's Retry-After: a value of days or years (a bug,
	// a date in 9999) must not silence the exporter for that long.
	MaxBackoff = 15 * time.Minute
	// Window is the span of --sunor.max-calls-per-minute: at most that
	// many calls with one key start within any Window.
	Window = time.Minute
	// windowSlack is how much longer than a Window a call keeps its slot:
	// the guard dates a call when it starts, and the request reaches the
	// API a moment later, sooner for one call than for another. Without
	// it, two calls a Window apart here may arrive a little closer there.
	windowSlack = time.Second
	// reserveWindow is how long the exporter steps aside when
	// X-RateLimit-Remaining is at or below the reserve and the API sent no
	// usable X-RateLimit-Reset: the API's documented window.
	reserveWindow = time.Minute
	// MaxReservePause caps that pause when X-RateLimit-Reset is sent: a
	// reset further away than a couple of the API's windows is a skewed
	// clock or a bug, and must not stop the balance for that long.
	MaxReservePause = 2 * reserveWindow
)

// Skip reasons: why a scrape made no call to an endpoint. They are the
// `reason` label of sunor_api_calls_skipped_total: add, never rename.
const (
	skipCache   = "cache"   // an answer younger than --sunor.cache-ttl
	skipBackoff = "backoff" // a 429's Retry-After is running
	skipReserve = "reserve" // X-RateLimit-Remaining is at or below the reserve
	skipBudget  = "budget"  // --sunor.max-calls-per-minute is spent
)

var skipReasons = []string{skipBackoff, skipBudget, skipCache, skipReserve}

// guard keeps the exporter's calls with one key within the key's request
// budget, which it shares with the user's own traffic. One guard serves
// every account with that key (accounts.Account.KeyID), every endpoint,
// scrape and Prometheus server: the ceiling, the reserve, the 429 back-off
// and what X-RateLimit-* said are the key's, not a config entry's. A call
// is charged to the guard of the key it sends, read as it starts (see
// caller.keyGuard): a rotated key is counted with the key it now is.
type guard struct {
	id string // the key's KeyID; "" for an account's own guard (no KeyID)

	mu        sync.Mutex
	perMinute int // the most calls started in any Window; 0: no ceiling
	reserve   int
	// balances is how many accounts read their balance with this key:
	// the slots of the window that other endpoints leave free, so that
	// the balance, the product, never starves behind optional calls.
	balances     int
	calls        []*slot   // calls started within the last Window, or waiting to start
	backoffUntil time.Time // after a 429
	reserveUntil time.Time // after an answer with little Remaining
	// usedAt is when an account last read the key for a call (keyGuard):
	// the guard was handed out for a call that may not hold a slot yet
	// (between keyGuard and allow), or ever (no ceiling), and whose 429
	// must find the guard the exporter keeps (idle).
	usedAt time.Time

	// missing says whether the key's optional endpoints exist.
	missing missingState
}

// A slot is one call in the guard's window. Its time is zero while the
// call waits for a call slot of the exporter, and then the time it started:
// the window holds the times the API sees.
type slot struct{ at time.Time }

// configure sets what the accounts sharing the key ask for: the lowest
// ceiling (0 is none) and the highest reserve.
func (g *guard) configure(perMinute, reserve, balances int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.perMinute, g.reserve, g.balances = perMinute, reserve, balances
}

// allow decides whether a call may be made at now. balance says the call
// is an account's balance, whose last good answer is age old: the last
// free slots of the window, one per account of the key, are kept for
// balances at least half a Window old. Usage never takes them, and a
// balance in a fast scrape loop does not spend them on an answer it has
// just had: whatever the scrapes, a balance can be refreshed before its
// answer is much more than half a Window old. If no call may be made,
// allow returns the reason and when calls may resume. A granted call
// holds a slot of the window (nil without a ceiling) until release, or for
// a Window after start.
func (g *guard) allow(now time.Time, balance bool, age time.Duration) (s *slot, reason string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if reason, until := g.blocked(now); reason != "" {
		return nil, reason, until
	}
	if g.perMinute <= 0 {
		return nil, "", time.Time{}
	}
	g.calls = slices.DeleteFunc(g.calls, func(s *slot) bool { return !s.at.IsZero() && now.Sub(s.at) >= Window+windowSlack })
	need := 1
	if !balance || age < Window/2 {
		need += min(g.balances, g.perMinute-1)
	}
	if missing := len(g.calls) + need - g.perMinute; missing > 0 {
		return nil, skipBudget, g.freeAt(now, missing)
	}
	s = &slot{}
	g.calls = append(g.calls, s)
	return s, "", time.Time{}
}

// freeAt is when n more slots will have left the window; g.mu is held.
func (g *guard) freeAt(now time.Time, n int) time.Time {
	var started []time.Time
	for _, s := range g.calls {
		if !s.at.IsZero() {
			started = append(started, s.at)
		}
	}
	if n > len(started) {
		return now.Add(Window) // calls still waiting for a slot
	}
	slices.SortFunc(started, time.Time.Compare)
	return started[n-1].Add(Window + windowSlack)
}

// blocked says why no call may start at now, if a 429 or the reserve says
// so; g.mu is held.
func (g *guard) blocked(now time.Time) (reason string, until time.Time) {
	switch {
	case now.Before(g.backoffUntil):
		return skipBackoff, g.backoffUntil
	case now.Before(g.reserveUntil):
		return skipReserve, g.reserveUntil
	}
	return "", time.Time{}
}

// start dates a granted call's slot: the call starts now. It says why the
// call must not start after all, when a 429 or the reserve came while it
// waited; the slot is then released.
func (g *guard) start(s *slot, now time.Time) (reason string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if reason, until = g.blocked(now); reason != "" {
		g.calls = slices.DeleteFunc(g.calls, func(c *slot) bool { return c == s })
		return reason, until
	}
	if s != nil {
		s.at = now
	}
	return "", time.Time{}
}

// idle reports whether the guard holds nothing at now that a key coming
// back would need: no key read for a call, no call started or waiting,
// within the window; no back-off, no reserve pause.
func (g *guard) idle(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.usedAt) < Window+windowSlack {
		return false
	}
	for _, s := range g.calls {
		if s.at.IsZero() || now.Sub(s.at) < Window+windowSlack {
			return false
		}
	}
	return !now.Before(g.backoffUntil) && !now.Before(g.reserveUntil)
}

// use records that an account read the key for a call at now.
func (g *guard) use(now time.Time) {
	g.mu.Lock()
	g.usedAt = now
	g.mu.Unlock()
}

// paused says whether a 429's back-off or a reserve pause stops every call
// with the key at now.
func (g *guard) paused(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return now.Before(g.backoffUntil) || now.Before(g.reserveUntil)
}

// release frees the slot of a call that was never made.
func (g *guard) release(s *slot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = slices.DeleteFunc(g.calls, func(c *slot) bool { return c == s })
}

// backoff stops calls for retryAfter, at most MaxBackoff; it reports
// whether the value was capped.
func (g *guard) backoff(now time.Time, retryAfter time.Duration) (until time.Time, capped bool) {
	if retryAfter > MaxBackoff {
		retryAfter, capped = MaxBackoff, true
	}
	until = now.Add(retryAfter)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.backoffUntil) {
		g.backoffUntil = until
	}
	return g.backoffUntil, capped
}

// observe reads an answer's X-RateLimit-* headers: with Remaining at or
// below the reserve, no call until the window resets, at X-RateLimit-Reset
// when the API sent one in the future (at most MaxReservePause away), else
// a window after this answer. It returns when calls resume, zero if the
// reserve was not reached.
func (g *guard) observe(now time.Time, rl sunor.RateLimit) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !rl.HasRemaining || rl.Remaining > float64(g.reserve) {
		return time.Time{}
	}
	until := now.Add(reserveWindow)
	if rl.HasReset && rl.Reset.After(now) {
		// As a time from now: X-RateLimit-Reset is a wall-clock time, and
		// a wall clock stepped back would stretch the pause by the step.
		until = now.Add(min(rl.Reset.Sub(now), MaxReservePause))
	}
	if until.After(g.reserveUntil) {
		g.reserveUntil = until
	}
	return g.reserveUntil
}

// The usage endpoint is documented on one of the API's doc sites and not
// on the other: an API without it answers 404 (or 405, 501) for ever.
// Calling it on every scrape would spend the key's budget on a known
// answer, count an error each time and log a line each time. So an
// optional endpoint that answers so is switched off for every account of
// the key, with one warning, and tried again once every RetryMissing.
// The balance is never switched off: its failures are the exporter's
// product, and SunorAPIDown reports them.

// RetryMissing is how long an optional endpoint the API does not have is
// left alone before one call tries it again.
const RetryMissing = time.Hour

// errMissing answers a scrape while its endpoint is switched off.
var errMissing = errors.New("the API does not have this endpoint (HTTP 404, 405 or 501); tried again once an hour")

// missingState is, for one key, whether its optional endpoints exist. The
// guard's mu guards it.
type missingState struct {
	off     bool      // the latest answer said the endpoint is missing
	until   time.Time // with off: when one call may try again
	probing bool      // a call that will tell is made or queued
	known   bool      // some call got an answer: the endpoint exists or not
	warned  bool      // the warning was logged: once per key
}

// missingEndpoint returns err's sunor.Error if it is the API saying it has
// no such endpoint at all, else nil.
func missingEndpoint(err error) *sunor.Error {
	var e *sunor.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return e
	}
	return nil
}

// claimOptional says whether an optional endpoint may be called at now,
// and if so holds the one call that tells whether it exists: while the
// key has had no answer yet, or once RetryMissing has passed after a
// missing answer, only one account of the key calls it; the others show it
// as failed for that scrape. Once the endpoint answered, every account
// calls it as usual. A claim is given back by optionalDone. first is true
// when no call has told yet, and another account's is telling: the
// endpoint is not known to be missing, only not called.
func (g *guard) claimOptional(now time.Time) (ok, first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &g.missing
	switch {
	case m.known && !m.off:
		return true, false
	case m.probing, m.off && now.Before(m.until):
		return false, !m.known
	}
	m.probing = true
	return true, false
}

// optionalDone records the outcome of an optional call made under
// claimOptional (or not made: called false). It returns whether the
// endpoint was just found missing for the first time, to be warned of,
// and whether it answered again after being missing.
func (g *guard) optionalDone(now time.Time, called, ok bool, err error) (firstMissing, back bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &g.missing
	m.probing = false
	if !called {
		return false, false
	}
	if missingEndpoint(err) != nil {
		m.known, m.off, m.until = true, true, now.Add(RetryMissing)
		firstMissing = !m.warned
		m.warned = true
		return firstMissing, false
	}
	var e *sunor.Error
	if ok || errors.As(err, &e) && e.StatusCode != 0 {
		// Any other answer from the API: the endpoint is there.
		back = m.off
		m.known, m.off = true, false
	}
	return false, back
}

// view is the key's budget at now, without changing it.
func (g *guard) view(now time.Time) KeyStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := KeyStatus{Ceiling: g.perMinute, Reserve: g.reserve}
	for _, s := range g.calls {
		if s.at.IsZero() || now.Sub(s.at) < Window {
			k.CallsLastMinute++
		}
	}
	if now.Before(g.backoffUntil) {
		k.BackoffUntil = g.backoffUntil
	}
	if now.Before(g.reserveUntil) {
		k.ReserveUntil = g.reserveUntil
	}
	if g.perMinute > 0 && k.CallsLastMinute >= g.perMinute {
		k.BudgetFreeAt = g.freeAt(now, k.CallsLastMinute-g.perMinute+1)
	}
	return k
}

// skipWhy says in words why the guard made no call, by the reason it gave.
var skipWhy = map[string]string{
	skipBudget:  "the key's ceiling of calls a minute is spent (--sunor.max-calls-per-minute): no call",
	skipBackoff: "a 429's Retry-After is running: no call with this key until it ends",
	skipReserve: "X-RateLimit-Remaining is at or below the reserve (--sunor.rate-limit-reserve): no call until the window resets",
}

// humanize writes d as the docs do: "5 minutes" rather than "5m0s".
func humanize(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
