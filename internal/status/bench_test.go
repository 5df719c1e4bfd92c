package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// stubAPI answers at once, without HTTP: every tenth account is refused.
type stubAPI struct{ refuse bool }

func (s stubAPI) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	rl := sunor.RateLimit{Remaining: 100, HasRemaining: true}
	if s.refuse {
		return nil, rl, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonUnauthorized, StatusCode: 401, Path: ep.Path, Message: "invalid API key"}
	}
	return []float64{950, 10, 960}[:len(ep.Fields)], rl, nil
}

// BenchmarkStatusPage10k renders the status page and its JSON with 10 000
// accounts, each scraped once (a tenth down): the time and bytes of one
// page load. docs/performance.md has the figures.
func BenchmarkStatusPage10k(b *testing.B) {
	const n = 10_000
	accts := make([]accounts.Account, n)
	for i := range accts {
		accts[i] = accounts.Account{Account: config.Account{Name: fmt.Sprintf("account-%05d", i),
			Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%40)}, LowCreditsThreshold: 500, MaxCallsPerMinute: 12, TaskCost: 10},
			API: stubAPI{refuse: i%10 == 0}}
	}
	exp := collector.New(accts, collector.Options{})
	if _, err := collectOnce(exp); err != nil {
		var e *sunor.Error
		if !errors.As(err, &e) {
			b.Log(err)
		}
	}
	h := Handler(exp, Options{MetricsPath: "/metrics"})
	for _, tc := range []struct{ name, path string }{
		{"html", "/"},
		{"json", "/status?format=json"},
		{"html-filtered", "/?team=team-7&state=down"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var size int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if rec.Code != 200 {
					b.Fatalf("%d", rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
