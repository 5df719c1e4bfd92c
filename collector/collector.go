// Package collector turns Sunor API answers into Prometheus metrics.
//
// Following mysqld_exporter, every series about the API is a const metric
// built in Collect from this scrape's answer: when the balance call fails
// the credit gauges are absent (never a stale or made-up number) and
// sunor_api_up says 0. Only the error counters live across scrapes.
//
// Collect has no context, so an Exporter is scraped through WithContext
// (see Handler), which carries the scrape's deadline to the API call.
package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "sunor"

// descs are the descriptors of the per-scrape series.
type descs struct {
	up, available, frozen, total, duration, lastSuccess *prometheus.Desc
	creditsUsed, toppedUp, tasks                        *prometheus.Desc
	collectorSuccess, collectorDuration                 *prometheus.Desc
	rlLimit, rlRemaining, rlReset                       *prometheus.Desc
}

func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.up, d.available, d.frozen, d.total, d.duration, d.lastSuccess,
		d.creditsUsed, d.toppedUp, d.tasks, d.collectorSuccess, d.collectorDuration,
		d.rlLimit, d.rlRemaining, d.rlReset}
}

func newDescs(cacheTTL time.Duration) *descs {
	// With a cache on, a value may be older than the scrape; the HELP text
	// says so, since a reader of a dashboard cannot see the flag.
	cached := ""
	if cacheTTL > 0 {
		cached = fmt.Sprintf(" A successful answer is reused for up to %s (--sunor.cache-ttl); see sunor_last_success_timestamp_seconds for its age.", cacheTTL)
	}
	acct := []string{"account"}
	return &descs{
		up: prometheus.NewDesc(namespace+"_api_up",
			"1 if the balance call of this scrape succeeded (or was answered from the cache), else 0."+cached, acct, nil),
		available: prometheus.NewDesc(namespace+"_credits_available",
			"Credits available to spend (1 credit = 0.01 USD). Absent when the balance call of this scrape failed."+cached, acct, nil),
		frozen: prometheus.NewDesc(namespace+"_credits_frozen",
			"Credits frozen by running tasks, to be deducted or refunded when they end. Absent when the balance call failed."+cached, acct, nil),
		total: prometheus.NewDesc(namespace+"_credits_total",
			"Credits available plus frozen. A gauge: the _total suffix, which Prometheus reserves for counters, is kept because users asked for this name. Absent when the balance call failed."+cached, acct, nil),
		duration: prometheus.NewDesc(namespace+"_api_request_duration_seconds",
			"How long the API call behind this scrape took. Absent when no call was made (cache, back-off).", []string{"account", "endpoint"}, nil),
		lastSuccess: prometheus.NewDesc(namespace+"_last_success_timestamp_seconds",
			"Unix time of the last successful balance call. Absent before the first success.", acct, nil),
		creditsUsed: prometheus.NewDesc(namespace+"_credits_used_total",
			"Credits spent over the account's lifetime (usage endpoint). Absent when the usage call of this scrape failed."+cached, acct, nil),
		toppedUp: prometheus.NewDesc(namespace+"_credits_topped_up_total",
			"Credits added over the account's lifetime (usage endpoint). Absent when the usage call failed."+cached, acct, nil),
		tasks: prometheus.NewDesc(namespace+"_tasks_created_total",
			"Generation tasks created over the account's lifetime (usage endpoint). Absent when the usage call failed."+cached, acct, nil),
		collectorSuccess: prometheus.NewDesc(namespace+"_scrape_collector_success",
			"1 if the collector (API endpoint) got an answer in this scrape, fresh or cached, else 0.", []string{"account", "collector"}, nil),
		collectorDuration: prometheus.NewDesc(namespace+"_scrape_collector_duration_seconds",
			"How long the collector took in this scrape, waiting included.", []string{"account", "collector"}, nil),
		rlLimit: prometheus.NewDesc(namespace+"_rate_limit_limit",
			"X-RateLimit-Limit of the latest API response in this scrape: requests allowed per window for this key. Absent when no response in this scrape carried it.", acct, nil),
		rlRemaining: prometheus.NewDesc(namespace+"_rate_limit_remaining",
			"X-RateLimit-Remaining of the latest API response in this scrape: requests left in the window, shared with all traffic of this key.", acct, nil),
		rlReset: prometheus.NewDesc(namespace+"_rate_limit_reset_timestamp_seconds",
			"X-RateLimit-Reset of the latest API response in this scrape, as a Unix time.", acct, nil),
	}
}

// Options configure an Exporter.
type Options struct {
	Logger log.Logger
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
	// Usage turns on the usage collector (GET /api/v1/account/usage).
	Usage bool
}

// Exporter collects the metrics of one or more Sunor accounts.
type Exporter struct {
	opts   Options
	errors *prometheus.CounterVec

	mu       sync.RWMutex
	descs    *descs
	accounts []*account
}

// New returns an Exporter for accounts, which must have distinct names.
func New(accounts []Account, opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Exporter{
		opts: opts,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_errors_total",
			Help:      "Failed Sunor API calls by endpoint and reason. A call shared by concurrent scrapes counts once.",
		}, []string{"account", "endpoint", "reason"}),
	}
	e.SetAccounts(accounts)
	return e
}

// SetAccounts replaces the accounts, as on a reload of the config file.
// Accounts whose Name and Identity are unchanged keep their state and
// counters; the counters of accounts that are gone are deleted.
func (e *Exporter) SetAccounts(accounts []Account) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := map[string]*account{}
	for _, a := range e.accounts {
		old[a.name] = a
	}
	var (
		next []*account
		ttl  time.Duration
		kept = map[string]bool{}
	)
	for _, cfg := range accounts {
		if a := old[cfg.Name]; a != nil && cfg.Identity != "" && a.identity == cfg.Identity {
			next = append(next, a)
		} else {
			next = append(next, newAccount(cfg, e.opts.Usage, e.errors, e.opts.Now, e.opts.Logger))
		}
		kept[cfg.Name] = true
		ttl = max(ttl, cfg.CacheTTL)
	}
	for name := range old {
		if !kept[name] {
			e.errors.DeletePartialMatch(prometheus.Labels{"account": name})
		}
	}
	e.accounts, e.descs = next, newDescs(ttl)
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	e.mu.RLock()
	d := e.descs
	e.mu.RUnlock()
	for _, x := range d.all() {
		ch <- x
	}
	e.errors.Describe(ch)
}

// Collect implements prometheus.Collector with no scrape deadline: each
// call is bounded by its account's timeout only.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.CollectContext(context.Background(), ch)
}

// CollectContext collects every account concurrently, so one slow account
// never delays another beyond ctx's deadline.
func (e *Exporter) CollectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	e.mu.RLock()
	accounts, d := e.accounts, e.descs
	e.mu.RUnlock()
	if len(accounts) == 1 {
		accounts[0].collect(ctx, d, ch)
	} else {
		var wg sync.WaitGroup
		for _, a := range accounts {
			wg.Go(func() { a.collect(ctx, d, ch) })
		}
		wg.Wait()
	}
	e.errors.Collect(ch)
}

// WithContext returns a collector that scrapes e under ctx.
func (e *Exporter) WithContext(ctx context.Context) prometheus.Collector {
	return scoped{e, ctx}
}

type scoped struct {
	e   *Exporter
	ctx context.Context
}

func (s scoped) Describe(ch chan<- *prometheus.Desc) { s.e.Describe(ch) }
func (s scoped) Collect(ch chan<- prometheus.Metric) { s.e.CollectContext(s.ctx, ch) }
