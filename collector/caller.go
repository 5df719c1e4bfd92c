package collector

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
)

// caller is what an account's calls are made with. An account holds one,
// and each of its endpoints points to it.
type caller struct {
	name     string
	identity string
	url      string // the redacted base URL, for logs
	api      accounts.API
	timing   atomic.Pointer[timing] // a reload that keeps the account may change it
	calls    *pool                  // the exporter's cap on calls in flight; nil: none
	now      func() time.Time
	logger   log.Logger
	removed  atomic.Bool // by a reload: its queued calls are not made
	recent   *callRing   // the exporter's, for the status page

	// guard is the guard of the key the account sent last (or was built
	// with), shared with every account of that key. Each call is charged
	// to the guard of the key it sends: see keyGuard.
	guard atomic.Pointer[guard]
	keys  func(context.Context) (key, id string) // nil: the key never changes
	// follow moves the account to the guard of the key id, for the
	// exporter, which keeps one guard per key and configures them.
	follow func(a *caller, id string) *guard
}

// keyGuard reads the key the account's next call sends and returns it with
// its guard, to which the call is charged: whatever the account was built
// with, a key file rotated since (to a new key, or to another account's)
// counts against the key it now holds. ok is false when the account has no
// key source of its own (Keys nil): its built guard holds.
func (a *caller) keyGuard() (key string, g *guard, ok bool) {
	g = a.guard.Load()
	if a.keys == nil {
		return "", g, false
	}
	key, id := a.keys(context.Background()) // returns within the key file's own read limit
	if id != g.id {
		g = a.follow(a, id)
	}
	g.use(a.now()) // not forgotten before the call it is for has run
	return key, g, true
}

// timing is how long an account's calls may take and its answers be
// reused without a call. Neither changes which calls are made, so neither
// is part of the account's identity: a reload applies them to the
// account it keeps, with its state.
type timing struct {
	timeout  time.Duration
	cacheTTL time.Duration
}

func (a *caller) setTiming(cfg accounts.Account) {
	a.timing.Store(&timing{timeout: cfg.Timeout, cacheTTL: cfg.CacheTTL})
}

func (a *caller) timeout() time.Duration { return a.timing.Load().timeout }

func (a *caller) cacheTTL() time.Duration { return a.timing.Load().cacheTTL }

func (a *caller) info(msg string, kv ...any) {
	_ = level.Info(a.logger).Log(append([]any{"msg", msg}, kv...)...)
}

func (a *caller) debug(msg string, kv ...any) {
	_ = level.Debug(a.logger).Log(append([]any{"msg", msg}, kv...)...)
}
