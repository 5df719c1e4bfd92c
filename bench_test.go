package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testtool"
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
	base, _ := sunor.ParseBaseURL(url)
	hc, err := accounts.NewHTTPClient(commoncfg.DefaultHTTPClientConfig, "bench", 32)
	if err != nil {
		b.Fatal(err)
	}
	client := sunor.NewClient(base, hc, apikey.Static("bench-key").Key)
	var accts []accounts.Account
	for i := range n {
		accts = append(accts, accounts.Account{Name: fmt.Sprintf("account-%03d", i), API: client, Timeout: 10 * time.Second})
	}
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
