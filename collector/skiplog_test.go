package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// TestSkipStormIsFewLines: 500 accounts whose calls are all skipped at
// once log one line per endpoint and reason per SkipLogEvery, not one
// each, and the metrics still count every skip (internal/loglimit's test
// has the count of lines held back).
func TestSkipStormIsFewLines(t *testing.T) {
	const n = 500
	clk := newClock()
	logs := &testtool.Lines{}
	var accts []accounts.Account
	for i := range n {
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprintf("a%d", i), Timeout: 5 * time.Second, MaxCallsPerMinute: 1}, KeyID: fmt.Sprintf("k%d", i), API: &scriptedAPI{}})
	}
	exp := New(accts, Options{Logger: log.NewLogfmtLogger(logs), Now: clk.Now})
	gather(t, exp) // one call each: the ceiling of the minute
	clk.Advance(time.Second)
	mfs := gather(t, exp) // every account skips
	total := 0.0
	for _, m := range mfs["sunor_api_calls_skipped_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != n {
		t.Fatalf("%v skips counted, want %d", total, n)
	}
	if got := logLines(logs.String(), "Not calling the Sunor API"); len(got) != 1 {
		t.Errorf("%d lines for %d accounts skipping at once, want 1:\n%.1000s", len(got), n, strings.Join(got, "\n"))
	}
}

// TestFailureStormIsFewLines: an API failing for 500 accounts at once logs
// one "Sunor API call failed" line per endpoint and reason per
// SkipLogEvery, not one per account and call, while the errors counter
// still counts every failure.
func TestFailureStormIsFewLines(t *testing.T) {
	const n = 500
	clk := newClock()
	logs := &testtool.Lines{}
	down := func(int) ([]float64, sunor.RateLimit, error) {
		return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonServerError, StatusCode: 500, Path: "/api/v1/account/balance"}
	}
	var accts []accounts.Account
	for i := range n {
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprintf("a%d", i), Timeout: 5 * time.Second}, KeyID: fmt.Sprintf("k%d", i), API: &scriptedAPI{answer: down}})
	}
	exp := New(accts, Options{Logger: log.NewLogfmtLogger(logs), Now: clk.Now})
	mfs := gather(t, exp)
	total := 0.0
	for _, m := range mfs["sunor_api_errors_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != n {
		t.Fatalf("%v failures counted, want %d", total, n)
	}
	if got := logLines(logs.String(), "Sunor API call failed"); len(got) != 1 {
		t.Errorf("%d lines for %d accounts failing at once, want 1:\n%.1000s", len(got), n, strings.Join(got, "\n"))
	}
}
