package collector

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

func TestUsageCollector(t *testing.T) {
	e := newEnv(t, withUsage())
	want := `
# HELP sunor_credits_used_total Credits spent over the account's lifetime (usage endpoint).` + fromLastAnswer + `
# TYPE sunor_credits_used_total counter
sunor_credits_used_total{account="prod"} 350
# HELP sunor_credits_topped_up_total Credits added over the account's lifetime (usage endpoint).` + fromLastAnswer + `
# TYPE sunor_credits_topped_up_total counter
sunor_credits_topped_up_total{account="prod"} 1000
# HELP sunor_tasks_created_total Generation tasks created over the account's lifetime (usage endpoint).` + fromLastAnswer + `
# TYPE sunor_tasks_created_total counter
sunor_tasks_created_total{account="prod"} 42
# HELP sunor_scrape_collector_success 1 if the collector (API endpoint) has a good answer in this scrape, fresh or reused, else 0.
# TYPE sunor_scrape_collector_success gauge
sunor_scrape_collector_success{account="prod",collector="balance"} 1
sunor_scrape_collector_success{account="prod",collector="usage"} 1
`
	if err := testutil.CollectAndCompare(e.exp, strings.NewReader(want),
		"sunor_credits_used_total", "sunor_credits_topped_up_total", "sunor_tasks_created_total", "sunor_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
	if e.fake.Requests("usage") != 1 || e.fake.Requests("balance") != 1 {
		t.Errorf("requests: balance %d, usage %d; want one each", e.fake.Requests("balance"), e.fake.Requests("usage"))
	}
	mfs := e.scrape()
	for _, c := range []string{"balance", "usage"} {
		if _, ok := value(mfs, "sunor_scrape_collector_duration_seconds", map[string]string{"collector": c}); !ok {
			t.Errorf("no collector duration for %s", c)
		}
		if _, ok := value(mfs, "sunor_api_request_duration_seconds", map[string]string{"endpoint": c}); !ok {
			t.Errorf("no request duration for %s", c)
		}
	}
	problems, err := testutil.CollectAndLint(e.exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if p.Metric != "sunor_credits_total" {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestUsageFailureLeavesBalanceAlone: a failing usage call hides the usage
// series and is counted under endpoint="usage"; sunor_api_up stays the
// balance's.
func TestUsageFailureLeavesBalanceAlone(t *testing.T) {
	e := newEnv(t, withUsage())
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.FailUsage = fakesunor.FailServerError })
	mfs := e.scrape()
	if up := mustValue(t, mfs, "sunor_api_up", nil); up != 1 {
		t.Errorf("sunor_api_up = %v with a healthy balance, want 1", up)
	}
	if _, ok := mfs["sunor_credits_used_total"]; ok {
		t.Error("usage counters present after a failed usage call")
	}
	if v := mustValue(t, mfs, "sunor_scrape_collector_success", map[string]string{"collector": "usage"}); v != 0 {
		t.Errorf("usage collector success = %v, want 0", v)
	}
	if v := mustValue(t, mfs, "sunor_scrape_collector_success", map[string]string{"collector": "balance"}); v != 1 {
		t.Errorf("balance collector success = %v, want 1", v)
	}
	if got := errorsFor(mfs, "usage", "server_error"); got != 1 {
		t.Errorf("errors{endpoint=usage,reason=server_error} = %v, want 1", got)
	}
	if got := errorsFor(mfs, "balance", "server_error"); got != 0 {
		t.Errorf("errors{endpoint=balance,reason=server_error} = %v, want 0", got)
	}
	if l := logLines(e.log.String(), "endpoint=usage"); len(l) != 1 || !strings.Contains(l[0], "reason=server_error") {
		t.Errorf("want one usage failure log line:\n%s", e.log)
	}
}

// TestRateLimitOnEitherEndpointPausesBoth: the budget is per key. During
// the back-off the balance answered just before is reused, as a cache hit
// is; usage, which never answered, stays absent.
func TestRateLimitOnEitherEndpointPausesBoth(t *testing.T) {
	e := newEnv(t, withUsage())
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.FailUsage = fakesunor.FailRateLimited })
	e.scrape()
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.FailUsage = "" })
	mfs := e.scrape()
	if b, u := e.fake.Requests("balance"), e.fake.Requests("usage"); b != 1 || u != 1 {
		t.Errorf("after a 429 on usage: %d balance and %d usage requests, want 1 and 1 (no call in the back-off)", b, u)
	}
	if up := mustValue(t, mfs, "sunor_api_up", nil); up != 1 {
		t.Errorf("sunor_api_up = %v during the back-off with a fresh balance to reuse, want 1", up)
	}
	if v := mustValue(t, mfs, "sunor_credits_available", nil); v != 950 {
		t.Errorf("reused balance = %v, want 950", v)
	}
	if _, ok := mfs["sunor_credits_used_total"]; ok {
		t.Error("usage series present though usage never answered")
	}
	for _, ep := range []string{"balance", "usage"} {
		if v := mustValue(t, mfs, "sunor_api_calls_skipped_total", map[string]string{"endpoint": ep, "reason": "backoff"}); v != 1 {
			t.Errorf("%s: skipped{reason=backoff} = %v, want 1", ep, v)
		}
	}
	e.clock.Advance(31 * time.Second)
	e.scrape()
	if b, u := e.fake.Requests("balance"), e.fake.Requests("usage"); b != 2 || u != 2 {
		t.Errorf("after Retry-After: %d balance and %d usage requests, want 2 and 2", b, u)
	}
}

func TestUsageSharesCacheTTL(t *testing.T) {
	e := newEnv(t, withUsage(), withTTL(time.Minute))
	e.scrape()
	mfs := e.scrape()
	if e.fake.Requests("usage") != 1 {
		t.Errorf("usage requests = %d within the TTL, want 1", e.fake.Requests("usage"))
	}
	if v := mustValue(t, mfs, "sunor_credits_used_total", nil); v != 350 {
		t.Errorf("cached usage: %v", v)
	}
}

// TestRateLimitHeaders: the X-RateLimit-* gauges come from this scrape's
// latest response, each present only if that response had the header.
func TestRateLimitHeaders(t *testing.T) {
	e := newEnv(t, withUsage(), withTTL(time.Minute))
	e.fake.LimitHeaders = true // an older API version, with every header
	mfs := e.scrape()
	if v := mustValue(t, mfs, "sunor_rate_limit_limit", map[string]string{"account": "prod"}); v != 120 {
		t.Errorf("limit = %v, want 120", v)
	}
	// Two requests so far (balance and usage): the API's later state is
	// 118 left, whichever answer arrived first.
	if v := mustValue(t, mfs, "sunor_rate_limit_remaining", nil); v != 118 {
		t.Errorf("remaining = %v, want 118 (the later of the two states)", v)
	}
	reset := mustValue(t, mfs, "sunor_rate_limit_reset_timestamp_seconds", nil)
	if now := float64(time.Now().Unix()); reset < now || reset > now+61 {
		t.Errorf("reset = %v, want within the next minute of %v", reset, now)
	}
	// A cached scrape made no call: no header, no series.
	mfs = e.scrape()
	for _, n := range []string{"sunor_rate_limit_limit", "sunor_rate_limit_remaining", "sunor_rate_limit_reset_timestamp_seconds"} {
		if _, ok := mfs[n]; ok {
			t.Errorf("%s present in a scrape that made no call", n)
		}
	}
	// An API version without X-RateLimit-Reset.
	e2 := newEnv(t)
	e2.fake.LimitHeaders, e2.fake.NoReset = true, true
	mfs = e2.scrape()
	if _, ok := mfs["sunor_rate_limit_reset_timestamp_seconds"]; ok {
		t.Error("reset present though the API did not send it")
	}
	if _, ok := mfs["sunor_rate_limit_remaining"]; !ok {
		t.Error("remaining absent though the API sent it")
	}
	// The API as its current docs describe it: Remaining alone.
	e4 := newEnv(t)
	mfs = e4.scrape()
	if v, ok := value(mfs, "sunor_rate_limit_remaining", nil); !ok || v != 119 {
		t.Errorf("remaining = %v (present %v), want 119", v, ok)
	}
	for _, n := range []string{"sunor_rate_limit_limit", "sunor_rate_limit_reset_timestamp_seconds"} {
		if _, ok := mfs[n]; ok {
			t.Errorf("%s present though the API sent only X-RateLimit-Remaining", n)
		}
	}
	e3 := newEnv(t)
	e3.fake.RateLimit = 0
	if _, ok := e3.scrape()["sunor_rate_limit_limit"]; ok {
		t.Error("limit present though the API sent no rate-limit header")
	}
}

// TestSlowAccountDoesNotHideAnother: two accounts in one scrape; one hangs
// past its timeout, the other's series still arrive in the same scrape.
func TestSlowAccountDoesNotHideAnother(t *testing.T) {
	fake := fakesunor.New("key-a")
	fake.SetAccount("key-b", fakesunor.Account{Available: 7, Frozen: 1, CreditsUsed: 35})
	fake.Update("key-a", func(a *fakesunor.Account) { a.Fail = fakesunor.FailHang })
	var hung atomic.Int32
	srv := testtool.ServeAPI(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") == "key-a" {
			hung.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(fake.Close)
	buf := &testtool.Lines{}
	exp := New([]accounts.Account{
		{Account: config.Account{Name: "a", Timeout: 200 * time.Millisecond}, API: newClient(t, srv.URL, apikey.Static("key-a"))},
		{Account: config.Account{Name: "b", Timeout: 10 * time.Second}, API: newClient(t, srv.URL, apikey.Static("key-b"))},
	}, Options{Logger: log.NewLogfmtLogger(buf), Scrapers: []Scraper{Usage}})
	mfs := gather(t, exp.WithContext(context.Background()))
	if v := mustValue(t, mfs, "sunor_credits_available", map[string]string{"account": "b"}); v != 7 {
		t.Errorf("b: available = %v, want 7", v)
	}
	if v := mustValue(t, mfs, "sunor_credits_used_total", map[string]string{"account": "b"}); v != 35 {
		t.Errorf("b: used = %v, want 35", v)
	}
	if v := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "b"}); v != 1 {
		t.Errorf("b: up = %v, want 1", v)
	}
	if v := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "a"}); v != 0 {
		t.Errorf("a: up = %v, want 0", v)
	}
	if _, ok := value(mfs, "sunor_credits_available", map[string]string{"account": "a"}); ok {
		t.Error("a: credits present though its call timed out")
	}
	if v, _ := value(mfs, "sunor_api_errors_total", map[string]string{"account": "a", "endpoint": "balance", "reason": "timeout"}); v != 1 {
		t.Errorf("a: timeout errors = %v, want 1", v)
	}
	if hung.Load() == 0 {
		t.Error("account a never reached the fake")
	}
}

// TestSetAccountsKeepsUnchanged: on a reload, an unchanged account keeps its
// cache and counters, a changed one starts afresh, a removed one loses its
// series, a new one appears.
func TestSetAccountsKeepsUnchanged(t *testing.T) {
	fake := fakesunor.New("key-a")
	fake.SetAccount("key-b", fakesunor.Account{Available: 7})
	srv := testtool.ServeAPI(t, fake)
	acct := func(name, key, identity string) accounts.Account {
		return accounts.Account{Account: config.Account{Name: name, Timeout: time.Second, CacheTTL: time.Hour}, API: newClient(t, srv.URL, apikey.Static(key)), Identity: identity}
	}
	exp := New([]accounts.Account{acct("a", "key-a", "a1"), acct("b", "key-b", "b1"), acct("gone", "wrong-key", "g1")}, Options{})
	gather(t, exp) // fills the caches; "gone" counts one unauthorized
	if n := fake.Requests("balance"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	exp.SetAccounts([]accounts.Account{acct("a", "key-a", "a1"), acct("b", "key-b", "b2"), acct("new", "key-b", "n1")})
	mfs := gather(t, exp)
	// a: cached (no request); b: changed, so fetched again; new: fetched.
	if n := fake.Requests("balance"); n != 5 {
		t.Errorf("%d requests after the reload, want 5 (a from its cache, b and new fetched)", n)
	}
	for _, name := range []string{"a", "b", "new"} {
		if v, ok := value(mfs, "sunor_api_up", map[string]string{"account": name}); !ok || v != 1 {
			t.Errorf("%s: up %v (present %v)", name, v, ok)
		}
	}
	if _, ok := value(mfs, "sunor_api_up", map[string]string{"account": "gone"}); ok {
		t.Error("a removed account still has series")
	}
	if _, ok := value(mfs, "sunor_api_errors_total", map[string]string{"account": "gone"}); ok {
		t.Error("a removed account still has error counters")
	}
}

func TestNewerRateLimit(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	rl := func(remaining float64, reset time.Time) sunor.RateLimit {
		return sunor.RateLimit{Remaining: remaining, HasRemaining: true, Reset: reset, HasReset: !reset.IsZero()}
	}
	for _, tc := range []struct {
		x, y sunor.RateLimit
		want bool
	}{
		{rl(10, t0), rl(11, t0), true},                   // same window, fewer left
		{rl(11, t0), rl(10, t0), false},                  //
		{rl(119, t0.Add(time.Minute)), rl(2, t0), true},  // a new window
		{rl(2, t0), rl(119, t0.Add(time.Minute)), false}, //
		{rl(5, time.Time{}), rl(6, time.Time{}), true},   // no reset header
		{sunor.RateLimit{}, rl(6, time.Time{}), false},   // no header at all
		{rl(6, time.Time{}), sunor.RateLimit{}, true},    //
	} {
		if got := newerRateLimit(tc.x, tc.y); got != tc.want {
			t.Errorf("newerRateLimit(%+v, %+v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
