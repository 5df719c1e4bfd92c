package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// zeroErrors is the error counter block of a healthy account.
const zeroErrors = `
# HELP sunor_api_errors_total Failed Sunor API calls by endpoint and reason. A call shared by concurrent scrapes counts once.
# TYPE sunor_api_errors_total counter
sunor_api_errors_total{account="prod",endpoint="balance",reason="api_error"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="decode"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="http_status"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="network"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="rate_limited"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="redirect"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="server_error"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="timeout"} 0
sunor_api_errors_total{account="prod",endpoint="balance",reason="unauthorized"} 0
`

func TestBalanceSuccess(t *testing.T) {
	e := newEnv(t)
	want := `
# HELP sunor_api_up 1 if this scrape has a good balance answer: a call that succeeded, or an answer reused without a call (cache, budget guard) or while the account's refresh waits in the queue (--sunor.max-concurrent-calls), else 0.
# TYPE sunor_api_up gauge
sunor_api_up{account="prod"} 1
# HELP sunor_credits_available Credits available to spend (1 credit = 0.01 USD).` + fromLastAnswer + `
# TYPE sunor_credits_available gauge
sunor_credits_available{account="prod"} 950
# HELP sunor_credits_frozen Credits frozen by running tasks, to be deducted or refunded when they end.` + fromLastAnswer + `
# TYPE sunor_credits_frozen gauge
sunor_credits_frozen{account="prod"} 10
# HELP sunor_credits_total Credits available plus frozen. A gauge: the _total suffix, which Prometheus reserves for counters, is kept because users asked for this name.` + fromLastAnswer + `
# TYPE sunor_credits_total gauge
sunor_credits_total{account="prod"} 960
# HELP sunor_last_success_timestamp_seconds Unix time of the last successful balance call. Absent before the first success.
# TYPE sunor_last_success_timestamp_seconds gauge
sunor_last_success_timestamp_seconds{account="prod"} 1.8e+09
` + zeroErrors
	if err := testutil.CollectAndCompare(e.exp, strings.NewReader(want),
		"sunor_api_up", "sunor_credits_available", "sunor_credits_frozen", "sunor_credits_total",
		"sunor_last_success_timestamp_seconds", "sunor_api_errors_total"); err != nil {
		t.Fatal(err)
	}
	mfs := e.scrape()
	if d := mustValue(t, mfs, "sunor_api_request_duration_seconds", map[string]string{"account": "prod", "endpoint": "balance"}); d <= 0 || d > 5 {
		t.Errorf("request duration = %v, want a positive number of seconds under the timeout", d)
	}
	if seen := e.fake.KeysSeen(); len(seen) != 1 || seen[testKey] != 2 {
		t.Errorf("fake saw keys %v, want only the configured key, twice", seen)
	}
}

func TestFractionalCredits(t *testing.T) {
	e := newEnv(t)
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Available, a.Frozen = 950.25, 0.5 })
	want := `
# HELP sunor_credits_available Credits available to spend (1 credit = 0.01 USD).` + fromLastAnswer + `
# TYPE sunor_credits_available gauge
sunor_credits_available{account="prod"} 950.25
# HELP sunor_credits_frozen Credits frozen by running tasks, to be deducted or refunded when they end.` + fromLastAnswer + `
# TYPE sunor_credits_frozen gauge
sunor_credits_frozen{account="prod"} 0.5
# HELP sunor_credits_total Credits available plus frozen. A gauge: the _total suffix, which Prometheus reserves for counters, is kept because users asked for this name.` + fromLastAnswer + `
# TYPE sunor_credits_total gauge
sunor_credits_total{account="prod"} 950.75
`
	if err := testutil.CollectAndCompare(e.exp, strings.NewReader(want),
		"sunor_credits_available", "sunor_credits_frozen", "sunor_credits_total"); err != nil {
		t.Fatal(err)
	}
}

func TestLint(t *testing.T) {
	e := newEnv(t)
	problems, err := testutil.CollectAndLint(e.exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The one waiver: the name the users asked for.
		if p.Metric == "sunor_credits_total" && strings.Contains(p.Text, "_total") {
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestFailureReasons drives every failure the API can show and checks what a
// user sees: up 0, no credit series, the reason counted once, a log line.
func TestFailureReasons(t *testing.T) {
	cases := []struct {
		fail       string
		reason     sunor.Reason
		status     string // in the log line
		wantInLog  string
		timeoutSet time.Duration
	}{
		{fail: fakesunor.FailUnauthorized, reason: sunor.ReasonUnauthorized, status: "status=401", wantInLog: `message="invalid API key"`},
		{fail: fakesunor.FailRateLimited, reason: sunor.ReasonRateLimited, status: "status=429", wantInLog: "backoff_until="},
		{fail: fakesunor.FailServerError, reason: sunor.ReasonServerError, status: "status=500", wantInLog: `message="internal error"`},
		{fail: fakesunor.FailBadGateway, reason: sunor.ReasonServerError, status: "status=502", wantInLog: "non-JSON body"},
		{fail: fakesunor.FailPayment, reason: sunor.ReasonHTTPStatus, status: "status=402", wantInLog: `message="insufficient credits"`},
		{fail: fakesunor.FailAPIError, reason: sunor.ReasonAPIError, status: "status=200", wantInLog: "balance service unavailable"},
		{fail: fakesunor.FailDecode, reason: sunor.ReasonDecode, status: "status=200", wantInLog: "not the documented JSON"},
		{fail: fakesunor.FailMissingField, reason: sunor.ReasonDecode, status: "status=200", wantInLog: "data.total"},
		{fail: fakesunor.FailStringNumber, reason: sunor.ReasonDecode, status: "status=200", wantInLog: "data"},
		{fail: fakesunor.FailHugeBody, reason: sunor.ReasonDecode, status: "status=200", wantInLog: "exceeds 1 MiB"},
		{fail: fakesunor.FailHang, reason: sunor.ReasonTimeout, status: "status=0", wantInLog: "no answer within", timeoutSet: 100 * time.Millisecond},
		{fail: fakesunor.FailSlowBody, reason: sunor.ReasonTimeout, status: "status=200", wantInLog: "reason=timeout", timeoutSet: 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.fail, func(t *testing.T) {
			var opts []envOpt
			if tc.timeoutSet > 0 {
				opts = append(opts, withTimeout(tc.timeoutSet))
			}
			e := newEnv(t, opts...)
			e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = tc.fail })
			mfs := e.scrape()
			assertFailedScrape(t, mfs, tc.reason)
			lines := logLines(e.log.String(), "Sunor API call failed")
			if len(lines) != 1 {
				t.Fatalf("want one failure log line, got %d:\n%s", len(lines), e.log.String())
			}
			// The path called, in every failure, a timeout's included.
			for _, s := range []string{"reason=" + string(tc.reason), tc.wantInLog, "account=prod", "endpoint=balance", "path=/api/v1/account/balance "} {
				if !strings.Contains(lines[0], s) {
					t.Errorf("log line %q lacks %q", lines[0], s)
				}
			}
			if !strings.Contains(lines[0], tc.status) {
				t.Errorf("log line %q lacks %q", lines[0], tc.status)
			}
		})
	}
}

func assertFailedScrape(t *testing.T, mfs map[string]*dto.MetricFamily, reason sunor.Reason) {
	t.Helper()
	if up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "prod"}); up != 0 {
		t.Errorf("sunor_api_up = %v, want 0", up)
	}
	for _, name := range []string{"sunor_credits_available", "sunor_credits_frozen", "sunor_credits_total", "sunor_last_success_timestamp_seconds"} {
		if _, ok := mfs[name]; ok {
			t.Errorf("%s is present after a failed call; want it absent", name)
		}
	}
	for _, r := range sunor.Reasons {
		want := 0.0
		if r == reason {
			want = 1
		}
		if got := errorsFor(mfs, "balance", string(r)); got != want {
			t.Errorf("sunor_api_errors_total{reason=%q} = %v, want %v", r, got, want)
		}
	}
}

func TestNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	buf := &testtool.Lines{}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 5 * time.Second}, API: newClient(t, url, apikey.Static(testKey))}}, Options{Logger: log.NewLogfmtLogger(buf)})
	mfs := gather(t, exp)
	assertFailedScrape(t, mfs, sunor.ReasonNetwork)
	if len(logLines(buf.String(), "reason=network")) != 1 {
		t.Errorf("want one log line with reason=network, got:\n%s", buf)
	}
}

// TestRedirectNotFollowed: a redirect is a failure that names the Location,
// and the key never reaches the host it points to.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Store(r.Header.Get("x-api-key"), true)
		w.Write([]byte(`{"code":200,"data":{"available":1,"frozen":1,"total":2}}`))
	}))
	defer other.Close()
	e := newEnv(t)
	e.fake.RedirectTo = other.URL + "/api/v1/account/balance"
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailRedirect })
	mfs := e.scrape()
	assertFailedScrape(t, mfs, sunor.ReasonRedirect)
	elsewhere.Range(func(k, _ any) bool {
		t.Errorf("the redirect target received a request (key %q); redirects must not be followed", k)
		return true
	})
	if l := logLines(e.log.String(), "reason=redirect"); len(l) != 1 || !strings.Contains(l[0], "location="+other.URL) {
		t.Errorf("want one log line naming the redirect location, got:\n%s", e.log.String())
	}
}

// TestRateLimitBackoff: after a 429 no call is made until Retry-After has
// passed; scrapes in that window say up 0 without calling.
func TestRateLimitBackoff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter func(now time.Time) string
		wait       time.Duration // the back-off the header asks for
	}{
		{"seconds", func(time.Time) string { return "30" }, 30 * time.Second},
		{"http-date", func(now time.Time) string { return now.Add(120 * time.Second).UTC().Format(http.TimeFormat) }, 120 * time.Second},
		{"absent", func(time.Time) string { return "" }, sunor.DefaultRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// The HTTP date is read against the real clock; start the
			// exporter's clock there too.
			e.clock.t = time.Now()
			e.fake.RetryAfter = tc.retryAfter(e.clock.Now())
			e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailRateLimited })

			mfs := e.scrape()
			assertFailedScrape(t, mfs, sunor.ReasonRateLimited)
			wantUntil := e.clock.Now().Add(tc.wait).UTC()
			if l := logLines(e.log.String(), "backoff_until="); len(l) != 1 ||
				!(strings.Contains(l[0], "backoff_until="+wantUntil.Format(time.RFC3339)) || strings.Contains(l[0], "backoff_until="+wantUntil.Add(-time.Second).Format(time.RFC3339))) {
				t.Fatalf("want the log to say it backs off until %s, got:\n%s", wantUntil.Format(time.RFC3339), e.log.String())
			}

			e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = "" }) // the API is fine again
			e.clock.Advance(tc.wait - 2*time.Second)
			mfs = e.scrape()
			if n := e.fake.Requests("balance"); n != 1 {
				t.Fatalf("a scrape inside the back-off window called the API (%d requests)", n)
			}
			if up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "prod"}); up != 0 {
				t.Errorf("sunor_api_up = %v inside the back-off window, want 0", up)
			}
			if _, ok := mfs["sunor_api_request_duration_seconds"]; ok {
				t.Error("request duration present though no call was made")
			}
			if got := errorsFor(mfs, "balance", "rate_limited"); got != 1 {
				t.Errorf("rate_limited = %v, want 1 (a skipped scrape is not a failed call)", got)
			}

			e.clock.Advance(3 * time.Second)
			mfs = e.scrape()
			if n := e.fake.Requests("balance"); n != 2 {
				t.Fatalf("after Retry-After passed the API was not called (%d requests)", n)
			}
			if up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "prod"}); up != 1 {
				t.Errorf("sunor_api_up = %v after the back-off, want 1", up)
			}
		})
	}
}

func TestCacheTTL(t *testing.T) {
	e := newEnv(t, withTTL(30*time.Second))
	first := e.scrape()
	e.clock.Advance(29 * time.Second)
	second := e.scrape()
	if n := e.fake.Requests("balance"); n != 1 {
		t.Fatalf("a scrape within the TTL called the API: %d requests, want 1", n)
	}
	if up := mustValue(t, second, "sunor_api_up", map[string]string{"account": "prod"}); up != 1 {
		t.Errorf("cached scrape: sunor_api_up = %v, want 1", up)
	}
	if v := mustValue(t, second, "sunor_credits_available", map[string]string{"account": "prod"}); v != 950 {
		t.Errorf("cached scrape: available = %v, want 950", v)
	}
	if _, ok := second["sunor_api_request_duration_seconds"]; ok {
		t.Error("cached scrape reports a request duration, but made no call")
	}
	if a, b := mustValue(t, first, "sunor_last_success_timestamp_seconds", nil), mustValue(t, second, "sunor_last_success_timestamp_seconds", nil); a != b {
		t.Errorf("last success moved from %v to %v without a call", a, b)
	}
	if v := mustValue(t, second, "sunor_api_calls_skipped_total", map[string]string{"endpoint": "balance", "reason": "cache"}); v != 1 {
		t.Errorf("skipped{reason=cache} = %v, want 1", v)
	}

	// Past the TTL, a failure is reported and not cached: the next scrape
	// calls again.
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailServerError })
	e.clock.Advance(2 * time.Second)
	assertFailedScrapeKeepsTimestamp(t, e.scrape())
	e.scrape()
	if n := e.fake.Requests("balance"); n != 3 {
		t.Fatalf("failures must not be cached: %d requests, want 3", n)
	}
}

// assertFailedScrapeKeepsTimestamp: after an earlier success, a failure has no
// credit series but keeps the last success time, so its age keeps growing.
func assertFailedScrapeKeepsTimestamp(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	if up := mustValue(t, mfs, "sunor_api_up", nil); up != 0 {
		t.Errorf("sunor_api_up = %v, want 0", up)
	}
	if _, ok := mfs["sunor_credits_available"]; ok {
		t.Error("credits present after a failed call")
	}
	if _, ok := mfs["sunor_last_success_timestamp_seconds"]; !ok {
		t.Error("last success timestamp vanished after a failure")
	}
}

// TestKeyFileRotation: a rotated key file takes effect on the next scrape; a
// missing or empty file keeps the last good key and logs a warning once.
func TestKeyFileRotation(t *testing.T) {
	fake := fakesunor.New(testKey)
	fake.SetAccount("rotated-key", fakesunor.Account{Available: 5})
	srv := testtool.ServeAPI(t, fake)
	path := filepath.Join(t.TempDir(), "key")
	write := func(s string) {
		// Write then rename, as Kubernetes and editors do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(testKey + "\n")
	buf := &testtool.Lines{}
	logger := log.NewLogfmtLogger(buf)
	key, err := apikey.NewFile(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 5 * time.Second}, API: newClient(t, srv.URL, key)}}, Options{Logger: logger})
	available := func() float64 { return mustValue(t, gather(t, exp), "sunor_credits_available", nil) }

	if v := available(); v != 950 {
		t.Fatalf("available = %v with the first key, want 950", v)
	}
	write("  rotated-key \n")
	if v := available(); v != 5 {
		t.Fatalf("available = %v after rotation, want 5 (the new key's account)", v)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	available()
	available()
	write("\n")
	if v := available(); v != 5 {
		t.Fatalf("available = %v with an empty key file, want 5 (the last good key)", v)
	}
	if n := len(logLines(buf.String(), "cannot be used; keeping the previous key")); n != 2 {
		t.Errorf("want one warning for the missing file and one for the empty one, got %d:\n%s", n, buf)
	}
	if strings.Contains(buf.String(), "rotated-key") || strings.Contains(buf.String(), testKey) {
		t.Errorf("the log shows a key:\n%s", buf)
	}
	seen := fake.KeysSeen()
	if seen[testKey] != 1 || seen["rotated-key"] != 4 || len(seen) != 2 {
		t.Errorf("keys presented = %v, want the first key once, then the rotated key only", seen)
	}
}

// TestConcurrentScrapesShareOneCall: scrapes that overlap a slow call wait for
// it instead of making their own, and a failure is counted once.
func TestConcurrentScrapesShareOneCall(t *testing.T) {
	for _, fail := range []string{"", fakesunor.FailServerError} {
		t.Run("fail="+fail, func(t *testing.T) {
			const scrapes = 8
			release := make(chan struct{})
			fake := fakesunor.New(testKey)
			fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fail })
			srv := testtool.ServeAPI(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-release // a slow API: it answers when the test says so
				fake.ServeHTTP(w, r)
			}))
			exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 10 * time.Second}, API: newClient(t, srv.URL, apikey.Static(testKey))}}, Options{})
			var joined sync.WaitGroup
			joined.Add(scrapes)

			type outcome struct{ up, errors float64 }
			results := make(chan outcome, scrapes)
			for range scrapes {
				go func() {
					ctx := &joinCtx{Context: context.Background(), joined: joined.Done}
					m, _ := collectOnce(exp.WithContext(ctx))
					up, _ := value(m, "sunor_api_up", nil)
					results <- outcome{up, errorsFor(m, "balance", "server_error")}
				}()
			}
			joined.Wait() // every scrape is waiting on the call
			close(release)
			wantUp := 1.0
			if fail != "" {
				wantUp = 0
			}
			wantErrors := 0.0
			if fail != "" {
				wantErrors = 1
			}
			for range scrapes {
				if o := <-results; o.up != wantUp || o.errors != wantErrors {
					t.Errorf("a scrape saw sunor_api_up %v and server_error %v, want %v and %v: a shared call counts once", o.up, o.errors, wantUp, wantErrors)
				}
			}
			if n := fake.Requests("balance"); n != 1 {
				t.Errorf("the fake saw %d balance requests for %d concurrent scrapes, want 1", n, scrapes)
			}
		})
	}
}

// TestDebugLogsEachCall: at debug level every API call is one line with
// the URL called, the status (the error's, 0 without an answer), the
// duration and X-RateLimit-Remaining when sent; never the key.
func TestDebugLogsEachCall(t *testing.T) {
	e := newEnv(t, withUsage())
	e.scrape()
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailServerError })
	e.scrape()
	lines := logLines(e.log.String(), `msg="Sunor API call"`)
	if len(lines) != 4 {
		t.Fatalf("%d debug lines for 4 calls, want 4:\n%s", len(lines), e.log)
	}
	want := map[string]int{
		"url=/api/v1/account/balance status=200": 1, "url=/api/v1/account/usage status=200": 1,
		"url=/api/v1/account/balance status=500": 1,
	}
	for _, l := range lines {
		for _, s := range []string{"level=debug", "duration=", "rate_limit_remaining="} {
			if !strings.Contains(l, s) {
				t.Errorf("debug line %q lacks %q", l, s)
			}
		}
		if strings.Contains(l, testKey) {
			t.Errorf("debug line shows the key: %q", l)
		}
		for s := range want {
			if strings.Contains(l, s) {
				want[s]--
			}
		}
	}
	for s, n := range want {
		if n > 0 {
			t.Errorf("no debug line with %q:\n%s", s, e.log)
		}
	}
}
