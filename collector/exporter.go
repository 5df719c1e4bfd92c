// Package collector turns Sunor API answers into Prometheus metrics.
//
// Following mysqld_exporter, every series about the API is a const metric
// built in Collect from this scrape's answers: when an answer is missing
// its series are absent (never a made-up number) and sunor_api_up says 0.
// Counters are kept per account and sent the same way, so that /probe can
// serve one account exactly as /metrics serves them all.
//
// Collect has no context, so an Exporter is scraped through WithContext or
// Probe (see MetricsHandler), which carry the scrape's deadline to the
// API calls.
package collector

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/loglimit"
)

// SkipLogEvery is how often a line saying calls are skipped, or resume,
// is logged at most, per endpoint and reason, whatever the accounts.
const SkipLogEvery = 10 * time.Second

// Options configure an Exporter.
type Options struct {
	Logger log.Logger
	// Now is the clock of the cache and the budget guard; tests set it.
	// Default time.Now. Deadlines always use the real clock.
	Now func() time.Time
	// Scrapers are the optional scrapers switched on; Balance always
	// comes first.
	Scrapers []Scraper
	// MaxConcurrentCalls caps the API calls in flight across all
	// accounts; the rest wait in the pool's queue. 0 is no cap.
	MaxConcurrentCalls int
}

// Exporter collects the metrics of one or more Sunor accounts.
type Exporter struct {
	opts     Options
	scrapers []Scraper
	calls    *pool
	rotation atomic.Uint64 // where the next scrape starts asking

	mu       sync.RWMutex
	accounts []*account
	byName   map[string]*account
	guards   map[string]*guard // by accounts.Account.KeyID
	sweepAt  int               // the number of guards at which follow forgets the idle unused ones
	// generation counts the SetAccounts calls, under mu: /sd's answer is
	// built once per generation.
	generation atomic.Uint64

	recent  *callRing            // the last API calls, for the status page
	sources map[string]keySource // by account name, under mu
}

// New returns an Exporter for accounts, which must have distinct names.
func New(accts []accounts.Account, opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Thousands of accounts skipping at once (keys rotating) logged 28 808
	// lines in 190 s, and an API down for 10 000 accounts would log a
	// failed call per account and call: each kind of these lines is logged
	// once per SkipLogEvery, the next one saying how many it held back.
	// The counters (sunor_api_errors_total, sunor_api_calls_skipped_total)
	// and the status page still tell every account's.
	opts.Logger = loglimit.Repeats(opts.Logger, SkipLogEvery, opts.Now,
		[]string{"Not calling the Sunor API", "Calling the Sunor API again", "Sunor API call failed"}, "endpoint", "reason")

	e := &Exporter{opts: opts, scrapers: append([]Scraper{Balance}, opts.Scrapers...), recent: new(callRing)}
	if opts.MaxConcurrentCalls > 0 {
		e.calls = &pool{size: opts.MaxConcurrentCalls, now: opts.Now}
	}
	e.SetAccounts(accts)
	return e
}

// SetAccounts replaces the accounts, as on a reload of the config file.
// Accounts whose Name and Identity are unchanged keep their state: cache,
// counters and the calls in flight; their other settings (timeout, cache
// TTL, owner labels, threshold, budget) are applied to them, and the
// ceiling and reserve to their key's guard. Accounts with the same
// non-empty KeyID share one budget guard, which a reload keeps while any
// account uses the key, whatever else changed (see keepGuards for after
// that): the ceiling, a back-off and the reserve are the key's. Between
// reloads, an account whose key changes (a key file rotated) moves to the
// guard of its new key at its next call (see caller.keyGuard). The series
// of accounts that are gone go with them.
func (e *Exporter) SetAccounts(accts []accounts.Account) {
	e.mu.Lock()
	defer e.mu.Unlock()
	next := make([]*account, 0, len(accts))
	byName := make(map[string]*account, len(accts))
	sources := make(map[string]keySource, len(accts)) // for the debug probe
	guards := map[string]*guard{}
	for _, cfg := range accts {
		a := e.byName[cfg.Name]
		g := guards[cfg.KeyID]
		switch {
		case cfg.KeyID == "" && a != nil:
			g = a.guard.Load()
		case cfg.KeyID != "" && g == nil:
			g = e.guards[cfg.KeyID]
		}
		if g == nil {
			g = &guard{id: cfg.KeyID}
		}
		if cfg.KeyID != "" {
			guards[cfg.KeyID] = g
		}
		if a == nil || cfg.Identity == "" || a.identity != cfg.Identity {
			a = newAccount(cfg, g, e.scrapers, e.calls, e.opts.Now, e.opts.Logger)
			a.follow, a.recent = e.follow, e.recent
		} else {
			// The same key source: its key may have changed, and with
			// it the guard; the calls in flight move at their start.
			a.guard.Store(g)
			a.setTiming(cfg) // timeout and cache TTL may change alone
			a.setPolicy(cfg) // owner labels, threshold and budget may change alone
			a.setBudget(cfg)
		}
		next = append(next, a)
		byName[cfg.Name] = a
		sources[cfg.Name] = keySource{cfg.APIKeyFile, cfg.APIKeyEnv}
	}
	for name, a := range e.byName {
		if byName[name] != a {
			a.removed.Store(true)
		}
	}
	e.accounts, e.byName, e.sources = next, byName, sources
	e.keepGuards(guards)
	configure(next)
	e.generation.Add(1)
}

// follow moves a to the guard of the key id, which its next call sends:
// the guard the exporter keeps for that key, or a new one. Both guards
// are configured again from the accounts that now use them; no other
// guard changes, so no other is, and a key directory rewritten for
// 10 000 accounts is 10 000 scans of the accounts, not 10 000 of every
// guard (BenchmarkRotateEveryKey: 23 s under the lock before, 0.09 s).
func (e *Exporter) follow(a *caller, id string) *guard {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := a.guard.Load()
	if old.id == id || a.removed.Load() {
		return old // another call moved it already; or a reload removed it, and its call is not made
	}
	g := e.guards[id]
	if g == nil {
		g = &guard{id: id}
		e.guards[id] = g
	}
	a.guard.Store(g)
	var users []*account
	for _, b := range e.accounts {
		if bg := b.guard.Load(); bg == g || bg == old {
			users = append(users, b)
		}
	}
	configure(users)
	if len(e.guards) >= e.sweepAt {
		// The guards of keys rotated away from are forgotten once idle,
		// in a sweep of every guard each time their number has doubled:
		// a few sweeps for a mass rotation, not one per key.
		inUse := map[string]*guard{}
		for _, b := range e.accounts {
			if g := b.guard.Load(); g.id != "" {
				inUse[g.id] = g
			}
		}
		e.keepGuards(inUse)
	}
	return g
}

// keepGuards makes inUse, the guards of the accounts' keys by KeyID, the
// exporter's guards, with those of keys no longer in use that still hold
// something: a key that leaves and comes back soon (a key file while its
// directory is rewritten, or rotated back) finds its calls of the window
// and its back-off as it left them; a guard is forgotten once idle. e.mu
// is held.
func (e *Exporter) keepGuards(inUse map[string]*guard) {
	now := e.opts.Now()
	for k, g := range e.guards {
		if inUse[k] == nil && !g.idle(now) {
			inUse[k] = g
		}
	}
	e.guards = inUse
	e.sweepAt = 2*len(inUse) + 64 // follow sweeps again past it
}

// configure sets each guard from the accounts that use it: the lowest
// ceiling (0 is none), the highest reserve, and one balance per account.
// e.mu is held.
func configure(accts []*account) {
	settings := map[*guard]*budget{}
	balances := map[*guard]int{}
	for _, a := range accts {
		g, b := a.guard.Load(), a.budget.Load()
		s := settings[g]
		if s == nil {
			s = &budget{perMinute: b.perMinute, reserve: b.reserve}
			settings[g] = s
		}
		if s.perMinute <= 0 || (b.perMinute > 0 && b.perMinute < s.perMinute) {
			s.perMinute = b.perMinute
		}
		s.reserve = max(s.reserve, b.reserve)
		balances[g]++
	}
	for g, s := range settings {
		g.configure(s.perMinute, s.reserve, balances[g])
	}
}

// Describe implements prometheus.Collector. It sends nothing: the Exporter
// is an unchecked collector, as each account has its own owner labels (see
// series.go).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector with no scrape deadline: each
// call is bounded by its account's timeout only.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.WithContext(context.Background()).Collect(ch)
}

// WithContext returns a collector of every account under ctx, for one
// scrape of /metrics.
func (e *Exporter) WithContext(ctx context.Context) prometheus.Collector {
	return scoped{e: e, ctx: ctx, accounts: e.snapshot()}
}

// Probe returns a collector of the account name under ctx, for one scrape
// of /probe, and false if there is no such account.
func (e *Exporter) Probe(ctx context.Context, name string) (prometheus.Collector, bool) {
	a, _ := e.lookup(name)
	if a == nil {
		return nil, false
	}
	return scoped{e: e, ctx: ctx, accounts: []*account{a}}, true
}

func (e *Exporter) snapshot() []*account {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Clone(e.accounts)
}

// collect scrapes accounts: it starts or joins every account's calls
// first, then waits for each in turn, so that every call is queued or in
// flight at once and a slow account delays no other beyond the deadline.
// The account whose balance answered longest ago asks first, and among
// equals each scrape starts from another account: accounts sharing a key
// take turns at a slot that frees, and at the head of the queue.
func (e *Exporter) collect(ctx context.Context, accts []*account, ch chan<- prometheus.Metric) {
	asks := make([][]ask, len(accts))
	// The rotation, sorted by when the balance last answered: when a key's
	// slots free together, a minute after a burst, they go to the balances
	// that waited longest, not each time to the same ones of the rotation.
	first := int(e.rotation.Add(1))
	order := make([]int, len(accts))
	lastAt := make([]time.Time, len(accts))
	for i, a := range accts {
		order[i] = (first + i) % len(accts)
		lastAt[i] = a.balanceAt()
	}
	slices.SortStableFunc(order, func(i, j int) int { return lastAt[i].Compare(lastAt[j]) })
	for _, j := range order {
		asks[j] = accts[j].ask(ctx)
	}
	for i, a := range accts {
		a.collect(ctx, asks[i], ch)
	}
}

type scoped struct {
	e        *Exporter
	ctx      context.Context
	accounts []*account
}

func (s scoped) Describe(ch chan<- *prometheus.Desc) { s.e.Describe(ch) }
func (s scoped) Collect(ch chan<- prometheus.Metric) { expanding(s.collectSets, ch) }

// collectSets sends the scope's series with the counters by reason as
// counterSets, for the streaming encoder (gatherFamilies).
func (s scoped) collectSets(ch chan<- prometheus.Metric) { s.e.collect(s.ctx, s.accounts, ch) }

// keySource is where an account's key comes from, for the debug probe's
// settings (the rest it reads from the account in force). Its strings are
// the configuration's own: an account costs no allocation here.
type keySource struct{ file, env string }

// lookup returns the account name in force, nil if there is none, and
// where its key comes from.
func (e *Exporter) lookup(name string) (*account, keySource) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.byName[name], e.sources[name]
}

// What the Exporter's Status and RecentCalls give the status page
// (internal/status): every account's state and settings, from what the
// collector records as it goes (record.go).

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
