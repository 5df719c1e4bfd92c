package collector

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// API is what the collector needs of a Sunor client; *sunor.Client has it.
type API interface {
	Balance(context.Context) (sunor.Balance, sunor.RateLimit, error)
	Usage(context.Context) (sunor.Usage, sunor.RateLimit, error)
}

// Account configures one Sunor account (one API key).
type Account struct {
	Name     string        // the `account` label
	API      API           // the client holding this account's key
	Timeout  time.Duration // the most one API call may take
	CacheTTL time.Duration // reuse a successful answer this long; 0 is off
	// Identity says what the account was built from (its entry in the
	// config file). Across SetAccounts, an account with the same Name and
	// a non-empty, equal Identity keeps its state: cache, back-off and the
	// call in flight.
	Identity string
}

// account is the live state of one Account.
type account struct {
	name     string
	identity string
	timeout  time.Duration
	cacheTTL time.Duration
	now      func() time.Time
	logger   log.Logger
	errors   *prometheus.CounterVec // curried with account=name

	balance endpoint[sunor.Balance]
	usage   *endpoint[sunor.Usage] // nil when the usage collector is off

	mu      sync.Mutex
	backoff time.Time // no call before this, after a 429
}

func newAccount(cfg Account, withUsage bool, errs *prometheus.CounterVec, now func() time.Time, logger log.Logger) *account {
	a := &account{
		name:     cfg.Name,
		identity: cfg.Identity,
		timeout:  cfg.Timeout,
		cacheTTL: cfg.CacheTTL,
		now:      now,
		logger:   log.With(logger, "account", cfg.Name),
		errors:   errs.MustCurryWith(prometheus.Labels{"account": cfg.Name}),
		balance:  endpoint[sunor.Balance]{name: sunor.EndpointBalance, fetch: cfg.API.Balance},
	}
	endpoints := []sunor.Endpoint{sunor.EndpointBalance}
	if withUsage {
		a.usage = &endpoint[sunor.Usage]{name: sunor.EndpointUsage, fetch: cfg.API.Usage}
		endpoints = append(endpoints, sunor.EndpointUsage)
	}
	// Every reason exists from the start at 0, so that increase() sees the
	// first failure and dashboards can list the reasons.
	for _, ep := range endpoints {
		for _, r := range sunor.Reasons {
			a.errors.WithLabelValues(string(ep), string(r))
		}
	}
	return a
}

func (a *account) backoffUntil() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.backoff
}

// failed counts and logs one failed API call. A 429 also starts the
// back-off: the budget is per key, so it holds for every endpoint.
func (a *account) failed(ep sunor.Endpoint, err error) {
	var e *sunor.Error
	if !errors.As(err, &e) {
		e = &sunor.Error{Endpoint: ep, Reason: sunor.ReasonNetwork, Message: err.Error()}
	}
	a.errors.WithLabelValues(string(ep), string(e.Reason)).Inc()

	kv := []any{"msg", "Sunor API call failed", "endpoint", ep, "reason", e.Reason, "status", e.StatusCode, "message", e.Message}
	logAt := level.Warn // passing trouble: it may go away by itself
	switch e.Reason {
	case sunor.ReasonRedirect:
		kv = append(kv, "location", e.Location, "hint", "redirects are not followed so the key goes nowhere else; set --sunor.url to the final URL")
		logAt = level.Error
	case sunor.ReasonUnauthorized, sunor.ReasonAPIError, sunor.ReasonDecode, sunor.ReasonHTTPStatus:
		logAt = level.Error // needs a person: a key, a URL, an API change
	case sunor.ReasonRateLimited:
		until := a.now().Add(e.RetryAfter)
		a.mu.Lock()
		if until.After(a.backoff) {
			a.backoff = until
		}
		a.mu.Unlock()
		kv = append(kv, "backoff_until", until.UTC().Format(time.RFC3339))
	}
	_ = logAt(a.logger).Log(kv...)
}

// collect sends this account's series for one scrape. The balance and
// usage calls run side by side, each under the scrape's deadline.
func (a *account) collect(ctx context.Context, d *descs, ch chan<- prometheus.Metric) {
	var (
		wg    sync.WaitGroup
		ur    result[sunor.Usage]
		uTook time.Duration
	)
	if a.usage != nil {
		wg.Go(func() {
			start := time.Now()
			ur = a.usage.get(ctx, a)
			uTook = time.Since(start)
		})
	}
	start := time.Now()
	br := a.balance.get(ctx, a)
	bTook := time.Since(start)
	wg.Wait()

	// Balance: sunor_api_up is the balance's alone.
	up := 0.0
	if br.ok {
		up = 1
		ch <- prometheus.MustNewConstMetric(d.available, prometheus.GaugeValue, br.value.Available, a.name)
		ch <- prometheus.MustNewConstMetric(d.frozen, prometheus.GaugeValue, br.value.Frozen, a.name)
		ch <- prometheus.MustNewConstMetric(d.total, prometheus.GaugeValue, br.value.Total, a.name)
	}
	a.logSkipped(sunor.EndpointBalance, br.err)
	ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, up, a.name)
	if t := a.balance.lastSuccess(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(d.lastSuccess, prometheus.GaugeValue, float64(t.UnixNano())/1e9, a.name)
	}
	sendCollector(ch, d, a.name, sunor.EndpointBalance, br.ok, br.called, br.duration, bTook)
	var latest *sunor.RateLimit
	if br.called {
		latest = &br.rl
	}

	if a.usage != nil {
		if ur.ok {
			ch <- prometheus.MustNewConstMetric(d.creditsUsed, prometheus.CounterValue, ur.value.CreditsUsed, a.name)
			ch <- prometheus.MustNewConstMetric(d.toppedUp, prometheus.CounterValue, ur.value.CreditsToppedUp, a.name)
			ch <- prometheus.MustNewConstMetric(d.tasks, prometheus.CounterValue, ur.value.TasksCreated, a.name)
		}
		a.logSkipped(sunor.EndpointUsage, ur.err)
		sendCollector(ch, d, a.name, sunor.EndpointUsage, ur.ok, ur.called, ur.duration, uTook)
		if ur.called && (latest == nil || newerRateLimit(ur.rl, *latest)) {
			latest = &ur.rl
		}
	}

	// The X-RateLimit-* headers of the latest response in this scrape; a
	// header it did not carry is no series.
	if latest == nil {
		return
	}
	if latest.HasLimit {
		ch <- prometheus.MustNewConstMetric(d.rlLimit, prometheus.GaugeValue, latest.Limit, a.name)
	}
	if latest.HasRemaining {
		ch <- prometheus.MustNewConstMetric(d.rlRemaining, prometheus.GaugeValue, latest.Remaining, a.name)
	}
	if latest.HasReset {
		ch <- prometheus.MustNewConstMetric(d.rlReset, prometheus.GaugeValue, float64(latest.Reset.UnixNano())/1e9, a.name)
	}
}

// newerRateLimit reports whether x is a later state of the key's budget than
// y. The balance and usage calls run at the same time, so which answer
// arrived last says nothing about which the API counted last; the API's own
// counters do: a later window first, then fewer requests remaining.
func newerRateLimit(x, y sunor.RateLimit) bool {
	if x.HasReset && y.HasReset && !x.Reset.Equal(y.Reset) {
		return x.Reset.After(y.Reset)
	}
	if x.HasRemaining != y.HasRemaining {
		return x.HasRemaining
	}
	return x.Remaining < y.Remaining
}

// sendCollector sends the node_exporter-style success and duration of one
// collector (one endpoint) and the duration of its API call, if one was made.
func sendCollector(ch chan<- prometheus.Metric, d *descs, acct string, ep sunor.Endpoint, ok, called bool, call, took time.Duration) {
	success := 0.0
	if ok {
		success = 1
	}
	ch <- prometheus.MustNewConstMetric(d.collectorSuccess, prometheus.GaugeValue, success, acct, string(ep))
	ch <- prometheus.MustNewConstMetric(d.collectorDuration, prometheus.GaugeValue, took.Seconds(), acct, string(ep))
	if called {
		ch <- prometheus.MustNewConstMetric(d.duration, prometheus.GaugeValue, call.Seconds(), acct, string(ep))
	}
}

// logSkipped notes at debug level a scrape that made no call (back-off) or
// gave up waiting; failed calls were logged where they failed.
func (a *account) logSkipped(ep sunor.Endpoint, err error) {
	var b errBackoff
	if errors.As(err, &b) || errors.Is(err, errGaveUp) {
		_ = level.Debug(a.logger).Log("msg", "No API call in this scrape", "endpoint", ep, "err", err)
	}
}
