package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

const testKey = "test-key-5f0c"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one fake API, one exporter for it, and the exporter's log.
type env struct {
	t     *testing.T
	fake  *fakesunor.Server
	srv   *httptest.Server
	exp   *Exporter
	log   *testtool.Lines
	clock *clock
}

type envOpt func(*accounts.Account, *Options)

func withTTL(d time.Duration) envOpt {
	return func(a *accounts.Account, _ *Options) { a.CacheTTL = d }
}
func withTimeout(d time.Duration) envOpt {
	return func(a *accounts.Account, _ *Options) { a.Timeout = d }
}
func withUsage() envOpt {
	return func(_ *accounts.Account, o *Options) { o.Scrapers = []Scraper{Usage} }
}

func newClient(t *testing.T, url string, key apikey.Source) *sunor.Client {
	t.Helper()
	base, err := baseurl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return sunor.NewClient(base, &http.Client{}, key.Key)
}

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	fake := fakesunor.New(testKey)
	srv := testtool.ServeAPI(t, fake)
	e := &env{t: t, fake: fake, srv: srv, log: &testtool.Lines{}, clock: newClock()}
	// No budget guard unless a test asks for one: most tests count calls.
	acct := accounts.Account{Account: config.Account{Name: "prod", Timeout: 5 * time.Second}, API: newClient(t, srv.URL, apikey.Static(testKey))}
	o := Options{Logger: log.NewLogfmtLogger(e.log), Now: e.clock.Now}
	for _, opt := range opts {
		opt(&acct, &o)
	}
	e.exp = New([]accounts.Account{acct}, o)
	return e
}

// scrape collects once and returns the metric families by name.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	return gather(e.t, e.exp.WithContext(context.Background()))
}

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	m, err := collectOnce(c)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return m
}

// collectOnce gathers c through a pedantic registry; safe off the test's
// goroutine, where t.Fatal must not be called.
func collectOnce(c prometheus.Collector) (map[string]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	m := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m, err
}

// value returns the value of the series of family name whose labels include
// want, and whether it exists.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(mfs, name, want)
	if !ok {
		t.Fatalf("series %s%v is absent", name, want)
	}
	return v
}

func errorsFor(mfs map[string]*dto.MetricFamily, endpoint, reason string) float64 {
	v, _ := value(mfs, "sunor_api_errors_total", map[string]string{"endpoint": endpoint, "reason": reason})
	return v
}

func logLines(s string, substr string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// joinCtx is a scrape context that reports when the scrape starts waiting
// on a call: wait is the first to ask for Done, after the scrape joined the
// call in flight. It lets a test know every scrape shares the call before
// releasing it, with no hook in the exporter.
type joinCtx struct {
	context.Context
	once   sync.Once
	joined func()
}

func (c *joinCtx) Done() <-chan struct{} {
	c.once.Do(c.joined)
	return c.Context.Done()
}
