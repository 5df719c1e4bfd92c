package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// result is what one scrape learned from one endpoint.
type result[T any] struct {
	value    T
	ok       bool            // value is a fresh or cached answer
	cached   bool            // answered from the cache, no call made
	called   bool            // a request was made for this scrape (possibly shared)
	duration time.Duration   // of that request
	rl       sunor.RateLimit // headers of that request
	err      error
}

// errBackoff is the answer of a scrape made while a 429's Retry-After runs.
// No request is made, so nothing is counted: the 429 itself was.
type errBackoff struct{ until time.Time }

func (e errBackoff) Error() string {
	return fmt.Sprintf("rate limited: backing off until %s", e.until.UTC().Format(time.RFC3339))
}

// errGaveUp is the answer of a scrape whose own deadline passed while it
// waited for a request another scrape had started. That request counts its
// own outcome, once.
var errGaveUp = errors.New("scrape deadline reached while waiting for the shared API call")

// endpoint is the per-account state of one API endpoint: the in-flight
// request that concurrent scrapes share, and the last good answer.
type endpoint[T any] struct {
	name  sunor.Endpoint
	fetch func(context.Context) (T, sunor.RateLimit, error)
	calls singleflight.Group

	mu     sync.Mutex
	last   T
	lastAt time.Time // zero until the first success

	// waiting, if set, is called when a scrape starts waiting for the
	// shared call: tests use it to know every scrape has joined.
	waiting func()
}

// get answers one scrape: from the cache when fresh enough, nothing during a
// 429 back-off, else from a request shared with every concurrent scrape.
func (e *endpoint[T]) get(ctx context.Context, a *account) result[T] {
	now := a.now()
	if a.cacheTTL > 0 {
		e.mu.Lock()
		last, at := e.last, e.lastAt
		e.mu.Unlock()
		if !at.IsZero() && now.Sub(at) < a.cacheTTL {
			return result[T]{value: last, ok: true, cached: true}
		}
	}
	if until := a.backoffUntil(); now.Before(until) {
		return result[T]{err: errBackoff{until}}
	}
	ch := e.calls.DoChan("", func() (any, error) { return e.call(ctx, a), nil })
	if e.waiting != nil {
		e.waiting()
	}
	select {
	case r := <-ch:
		return r.Val.(result[T])
	case <-ctx.Done():
		return result[T]{err: errGaveUp}
	}
}

// call makes the request. It runs once for all the scrapes sharing it, so it
// must not die with the first scrape's connection: it keeps that scrape's
// deadline but not its cancellation, and is capped by the account timeout.
func (e *endpoint[T]) call(scrapeCtx context.Context, a *account) result[T] {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(scrapeCtx), a.timeout)
	defer cancel()
	if dl, ok := scrapeCtx.Deadline(); ok {
		var cancel2 context.CancelFunc
		ctx, cancel2 = context.WithDeadline(ctx, dl)
		defer cancel2()
	}
	start := time.Now()
	v, rl, err := e.fetch(ctx)
	r := result[T]{value: v, called: true, duration: time.Since(start), rl: rl, err: err}
	if err != nil {
		a.failed(e.name, err)
		return r
	}
	r.ok = true
	e.mu.Lock()
	e.last, e.lastAt = v, a.now()
	e.mu.Unlock()
	return r
}

// lastSuccess returns when the endpoint last answered, zero if never.
func (e *endpoint[T]) lastSuccess() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastAt
}
