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
	"golang.org/x/sync/semaphore"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
)

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
	// accounts; the rest queue within their scrape's deadline. 0 is no cap.
	MaxConcurrentCalls int
}

// Exporter collects the metrics of one or more Sunor accounts.
type Exporter struct {
	opts     Options
	scrapers []Scraper
	calls    *semaphore.Weighted

	rotation atomic.Uint64 // where the next scrape of every account starts

	mu       sync.RWMutex
	accounts []*account
	byName   map[string]*account
}

// New returns an Exporter for accounts, which must have distinct names.
func New(accts []accounts.Account, opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Exporter{opts: opts, scrapers: append([]Scraper{Balance}, opts.Scrapers...)}
	if opts.MaxConcurrentCalls > 0 {
		e.calls = semaphore.NewWeighted(int64(opts.MaxConcurrentCalls))
	}
	e.SetAccounts(accts)
	return e
}

// SetAccounts replaces the accounts, as on a reload of the config file.
// Accounts whose Name and Identity are unchanged keep their state: cache,
// budget, back-off, counters and the calls in flight. The series of
// accounts that are gone go with them.
func (e *Exporter) SetAccounts(accts []accounts.Account) {
	e.mu.Lock()
	defer e.mu.Unlock()
	next := make([]*account, 0, len(accts))
	byName := make(map[string]*account, len(accts))
	for _, cfg := range accts {
		a := e.byName[cfg.Name]
		if a == nil || cfg.Identity == "" || a.identity != cfg.Identity {
			a = newAccount(cfg, e.scrapers, e.calls, e.opts.Now, e.opts.Logger)
		}
		a.setPolicy(cfg) // owner labels, threshold and budget may change alone
		next = append(next, a)
		byName[cfg.Name] = a
	}
	e.accounts, e.byName = next, byName
}

// Names returns the accounts' names, in the order they were given.
func (e *Exporter) Names() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, len(e.accounts))
	for i, a := range e.accounts {
		names[i] = a.name
	}
	return names
}

// Describe implements prometheus.Collector. It sends nothing: the Exporter
// is an unchecked collector, as each account has its own owner labels (see
// series.go).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector with no scrape deadline: each
// call is bounded by its account's timeout only.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.collect(context.Background(), e.snapshot(), ch)
}

// WithContext returns a collector of every account under ctx, for one
// scrape of /metrics.
func (e *Exporter) WithContext(ctx context.Context) prometheus.Collector {
	return scoped{e: e, ctx: ctx, accounts: e.snapshot()}
}

// Probe returns a collector of the account name under ctx, for one scrape
// of /probe, and false if there is no such account.
func (e *Exporter) Probe(ctx context.Context, name string) (prometheus.Collector, bool) {
	e.mu.RLock()
	a := e.byName[name]
	e.mu.RUnlock()
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

// collect scrapes accounts concurrently, so one slow account never delays
// another beyond ctx's deadline. With a cap on calls in flight, twice as
// many accounts as the cap are scraped at once: more would only wait for a
// call slot, each with goroutines and timers of its own, which for a
// thousand accounts costs tens of MiB. Each scrape starts at another
// account, so that when the deadline comes before every account had its
// turn, it is not always the same ones that miss it.
func (e *Exporter) collect(ctx context.Context, accts []*account, ch chan<- prometheus.Metric) {
	workers := len(accts)
	if c := e.opts.MaxConcurrentCalls; c > 0 && 2*c < workers {
		workers = 2 * c
	}
	first := int(e.rotation.Add(1))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(accts) {
					return
				}
				accts[(first+i)%len(accts)].collect(ctx, ch)
			}
		})
	}
	wg.Wait()
}

type scoped struct {
	e        *Exporter
	ctx      context.Context
	accounts []*account
}

func (s scoped) Describe(ch chan<- *prometheus.Desc) { s.e.Describe(ch) }
func (s scoped) Collect(ch chan<- prometheus.Metric) { s.e.collect(s.ctx, s.accounts, ch) }
