package collector

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

const (
	// MaxStale is how old a reused answer may be when the guard skips a
	// call: older, and the scrape shows sunor_api_up 0 rather than a
	// number nobody can vouch for.
	MaxStale = 5 * time.Minute
	// MaxBackoff caps a 429's Retry-After: a value of days or years (a bug,
	// a date in 9999) must not silence the exporter for that long.
	MaxBackoff = 15 * time.Minute
	// reserveWindow is how long the exporter steps aside when
	// X-RateLimit-Remaining is at or below the reserve and the API sent no
	// usable X-RateLimit-Reset: the documented window is one minute.
	reserveWindow = time.Minute
)

// guard keeps the exporter's calls within one key's request budget, which
// it shares with the user's own traffic (120 a minute, all endpoints). It
// is per account, for every endpoint, scrape and Prometheus replica.
type guard struct {
	reserve int

	mu           sync.Mutex
	limiter      *rate.Limiter // nil: no ceiling
	backoffUntil time.Time     // after a 429
	reserveUntil time.Time     // after an answer with little Remaining
}

func newGuard(maxPerMinute, reserve int) *guard {
	g := &guard{reserve: reserve}
	if maxPerMinute > 0 {
		// A burst up to the ceiling, refilled evenly over the minute.
		g.limiter = rate.NewLimiter(rate.Limit(float64(maxPerMinute)/60), maxPerMinute)
	}
	return g
}

// allow decides whether a call may be made at now. If not, it returns the
// reason and when calls may resume. A granted call spends a token.
func (g *guard) allow(now time.Time) (reason string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case now.Before(g.backoffUntil):
		return skipBackoff, g.backoffUntil
	case now.Before(g.reserveUntil):
		return skipReserve, g.reserveUntil
	case g.limiter != nil && !g.limiter.AllowN(now, 1):
		missing := 1 - g.limiter.TokensAt(now)
		wait := time.Duration(missing / float64(g.limiter.Limit()) * float64(time.Second))
		return skipBudget, now.Add(wait)
	}
	return "", time.Time{}
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
// when the API sent a usable one, else a window after this answer. It
// returns when calls resume, zero if the reserve was not reached.
func (g *guard) observe(now time.Time, rl sunor.RateLimit) time.Time {
	if !rl.HasRemaining || rl.Remaining > float64(g.reserve) {
		return time.Time{}
	}
	until := now.Add(reserveWindow)
	if rl.HasReset && rl.Reset.After(now) && rl.Reset.Sub(now) <= MaxBackoff {
		until = rl.Reset
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.reserveUntil) {
		g.reserveUntil = until
	}
	return g.reserveUntil
}
