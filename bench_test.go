package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// The two benchmarks below are meant to be read side by side: one scrape of
// the exporter (as main wires it, Go and process metrics included) and one
// direct call to the same fake API. The accounts have no budget ceiling
// (MaxCallsPerMinute 0), so every scrape makes its calls. Figures belong in
// the README's Performance section, not here: they go stale. Run:
//
//	go test -run '^$' -bench 'Scrape|DirectCall' -benchmem .

func benchFake(b *testing.B) string {
	fake := fakesunor.New("bench-key")
	fake.RateLimit = 0
	return testtool.ServeAPI(b, fake).URL
}

func get(b *testing.B, c *http.Client, req *http.Request) {
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func BenchmarkDirectCall(b *testing.B) {
	url := benchFake(b)
	req, _ := http.NewRequest("GET", url+"/api/v1/account/balance", nil)
	req.Header.Set("x-api-key", "bench-key")
	c := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		get(b, c, req)
	}
}

func benchExporter(b *testing.B, n int, disableExporterMetrics, usage bool) *httptest.Server {
	url := benchFake(b)
	base, _ := baseurl.Parse(url)
	hc, err := accounts.NewHTTPClient(commoncfg.DefaultHTTPClientConfig, "bench", 32)
	if err != nil {
		b.Fatal(err)
	}
	client := sunor.NewClient(base, hc, apikey.Static("bench-key").Key)
	return benchServer(b, benchAccounts(n, client), disableExporterMetrics, usage)
}

// benchAccounts are n accounts of one API, each with the owner labels,
// threshold and budget of a platform's account (team and env labels).
func benchAccounts(n int, api accounts.API) []accounts.Account {
	var accts []accounts.Account
	for i := range n {
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprintf("account-%03d", i), Timeout: 10 * time.Second, Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%10), "env": "prod"}, LowCreditsThreshold: 500, DailyBudget: 5000}, API: api})
	}
	return accts
}

func benchServer(b *testing.B, accts []accounts.Account, disableExporterMetrics, usage bool) *httptest.Server {
	var scrapers []collector.Scraper
	if usage {
		scrapers = []collector.Scraper{collector.Usage}
	}
	exp := collector.New(accts, collector.Options{Scrapers: scrapers, MaxConcurrentCalls: 32})
	f := flags{timeoutOffset: 500 * time.Millisecond, maxRequests: 40, disableExporter: disableExporterMetrics, metricsPath: "/metrics"}
	srv := httptest.NewServer(scrapeMux(f, exp, ownRegistry(f), slog.New(slog.DiscardHandler)))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkScrape(b *testing.B) {
	for _, tc := range []struct {
		name    string
		disable bool
	}{{"all-metrics", false}, {"sunor-only", true}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := benchExporter(b, 1, tc.disable, false)
			req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/metrics", nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			c := &http.Client{}
			b.ReportAllocs()
			for b.Loop() {
				get(b, c, req)
			}
		})
	}
}

// BenchmarkScrapeAccounts: how a scrape grows with the number of accounts,
// each with its balance and usage calls (the default), exporter metrics off
// to show the accounts' share alone.
//
//	go test -run '^$' -bench ScrapeAccounts -benchmem .
func BenchmarkScrapeAccounts(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			srv := benchExporter(b, n, true, true)
			req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			c := &http.Client{}
			b.ReportAllocs()
			for b.Loop() {
				get(b, c, req)
			}
		})
	}
}

// instantAPI answers every call at once, in process, with the rate-limit
// headers a real answer carries: what is left of a scrape is the exporter's
// own work, building and encoding the series.
type instantAPI struct{}

func (instantAPI) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	v := make([]float64, len(ep.Fields))
	for i := range v {
		v[i] = float64(1000 + i)
	}
	return v, sunor.RateLimit{Limit: 120, Remaining: 100, Reset: time.Unix(1_800_000_060, 0), HasLimit: true, HasRemaining: true, HasReset: true}, nil
}

// BenchmarkScrapeThousand: one /metrics scrape of 1000 accounts with owner
// labels, threshold and budget, balance and usage each. Over the fake API
// over HTTP (what a scrape costs end to end) and over an in-process API (the
// series alone: build, gather, encode).
//
//	go test -run '^$' -bench ScrapeThousand -benchmem .
func BenchmarkScrapeThousand(b *testing.B) {
	for _, tc := range []struct {
		name string
		srv  func(b *testing.B) *httptest.Server
	}{
		{"api=http", func(b *testing.B) *httptest.Server { return benchExporter(b, 1000, true, true) }},
		{"api=instant", func(b *testing.B) *httptest.Server {
			return benchServer(b, benchAccounts(1000, instantAPI{}), true, true)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := tc.srv(b)
			req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			c := &http.Client{}
			b.ReportAllocs()
			cpu0, ok := processCPU()
			n := 0
			for b.Loop() {
				get(b, c, req)
				n++
			}
			// ns/op is wall time, which other processes stretch; the CPU
			// time of the whole process (exporter, fake API, client) is not.
			if cpu1, _ := processCPU(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
			}
		})
	}
}

// BenchmarkThousandAccountsHeap: the heap a thousand accounts with owner
// labels keep between scrapes (their state and their series' labels), per
// account, after one scrape.
//
//	go test -run '^$' -bench ThousandAccountsHeap .
func BenchmarkThousandAccountsHeap(b *testing.B) {
	const n = 1000
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		exp := collector.New(benchAccounts(n, instantAPI{}), collector.Options{Scrapers: []collector.Scraper{collector.Usage}})
		reg := prometheus.NewRegistry()
		reg.MustRegister(exp.WithContext(context.Background()))
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(exp)
		kept = after.HeapAlloc - before.HeapAlloc
	}
	b.ReportMetric(float64(kept)/n, "heap-B/account")
}

// discardWriter is a ResponseWriter that drops the body: a scrape's
// answer, megabytes at 10 000 accounts, is not the exporter's to keep.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header       { return w.h }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkTenThousandAccountsHeap: 10 000 accounts with owner labels,
// threshold and budget, balance and usage each answered (every family
// present), scraped on /metrics as Prometheus asks (OpenMetrics, gzip)
// through the streaming encoder. It reports the heap the accounts keep
// between scrapes, and the most heap a scrape holds (live and not yet
// collected, sampled every millisecond, at the default GOGC), which with
// the runtime's own is what the process's RSS follows.
//
//	go test -run '^$' -bench TenThousandAccountsHeap -benchtime 5x .
func BenchmarkTenThousandAccountsHeap(b *testing.B) {
	const n = 10_000
	heapObjects := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(heapObjects); return heapObjects[0].Value.Uint64() }

	runtime.GC()
	before := heap()
	accts := benchAccounts(n, instantAPI{})
	for i := range accts {
		// After the first scrape, every scrape shows the answers it has,
		// as one every 15 s does when 32 calls at a time refresh them in
		// the background: the scrape's own work, not the calls'.
		accts[i].CacheTTL = time.Hour
	}
	exp := collector.New(accts, collector.Options{Scrapers: []collector.Scraper{collector.Usage}})
	h := collector.MetricsHandler(exp, collector.HandlerOpts{})
	scrape := func() {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
		req.Header.Set("Accept-Encoding", "gzip")
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		h.ServeHTTP(discardWriter{http.Header{}}, req)
	}
	scrape() // the calls: every account has its answers
	runtime.GC()
	kept := heap() - before

	var peak atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := heap(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		scrape()
	}
	close(stop)
	<-stopped
	runtime.KeepAlive(exp)
	b.ReportMetric(float64(kept)/(1<<20), "kept-MiB")
	b.ReportMetric(float64(peak.Load()-before)/(1<<20), "peak-heap-MiB")
}
