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
}

// account is the live state of one Account.
type account struct {
	name     string
	timeout  time.Duration
	cacheTTL time.Duration
	now      func() time.Time
	logger   log.Logger
	errors   *prometheus.CounterVec // curried with account=name

	balance endpoint[sunor.Balance]

	mu      sync.Mutex
	backoff time.Time // no call before this, after a 429
}

func newAccount(cfg Account, errs *prometheus.CounterVec, now func() time.Time, logger log.Logger) *account {
	a := &account{
		name:     cfg.Name,
		timeout:  cfg.Timeout,
		cacheTTL: cfg.CacheTTL,
		now:      now,
		logger:   log.With(logger, "account", cfg.Name),
		errors:   errs.MustCurryWith(prometheus.Labels{"account": cfg.Name}),
		balance:  endpoint[sunor.Balance]{name: sunor.EndpointBalance, fetch: cfg.API.Balance},
	}
	// Every reason exists from the start at 0, so that increase() sees the
	// first failure and dashboards can list the reasons.
	for _, r := range sunor.Reasons {
		a.errors.WithLabelValues(string(sunor.EndpointBalance), string(r))
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

// collect sends this account's series for one scrape.
func (a *account) collect(ctx context.Context, d *descs, ch chan<- prometheus.Metric) {
	r := a.balance.get(ctx, a)
	up := 0.0
	if r.ok {
		up = 1
		ch <- prometheus.MustNewConstMetric(d.available, prometheus.GaugeValue, r.value.Available, a.name)
		ch <- prometheus.MustNewConstMetric(d.frozen, prometheus.GaugeValue, r.value.Frozen, a.name)
		ch <- prometheus.MustNewConstMetric(d.total, prometheus.GaugeValue, r.value.Total, a.name)
	} else {
		var b errBackoff
		if errors.As(r.err, &b) || errors.Is(r.err, errGaveUp) {
			_ = level.Debug(a.logger).Log("msg", "No balance call in this scrape", "err", r.err)
		}
	}
	ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, up, a.name)
	if r.called {
		ch <- prometheus.MustNewConstMetric(d.duration, prometheus.GaugeValue, r.duration.Seconds(), a.name, string(sunor.EndpointBalance))
	}
	if t := a.balance.lastSuccess(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(d.lastSuccess, prometheus.GaugeValue, float64(t.UnixNano())/1e9, a.name)
	}
}
