package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

func (e *env) debugProbe(name string) (int, string, string) {
	e.t.Helper()
	rec := httptest.NewRecorder()
	ProbeHandler(e.exp, HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?debug=true&account="+name, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

func TestDebugProbe(t *testing.T) {
	e := newEnv(t, withUsage(), func(a *accounts.Account, _ *Options) {
		a.Labels, a.APIKeyFile, a.DailyBudget, a.LowCreditsThreshold = map[string]string{"team": "music"}, "/etc/sunor/prod.key", 300, 500
	})
	code, ctype, out := e.debugProbe("prod")
	if code != 200 || ctype != "text/plain; charset=utf-8" {
		t.Fatalf("%d %s\n%s", code, ctype, out)
	}
	for _, want := range []string{
		"Debug probe of account \"prod\"",
		"balance: guard: call: the guard allowed a call\n",
		`balance: GET "/api/v1/account/balance" -> HTTP 200 in `,
		"X-RateLimit-Remaining 119", "decoded: available=950 frozen=10 total=960 (allowed: no ceiling)",
		`usage: GET "/api/v1/account/usage" -> HTTP 200`,
		"Series this probe returned:\n",
		`sunor_api_up{account="prod",team="music"} 1`,
		`sunor_credits_available{account="prod",team="music"} 950`,
		"Effective settings (after defaults):\n",
		"  timeout: 5s\n", "  max_calls_per_minute: none\n", "  cache_ttl: 0s\n", "  low_credits_threshold: 500\n",
		"  daily_budget: 300 credits a day\n", "  labels: team=\"music\"\n", "  key: from \"key file /etc/sunor/prod.key\" (never shown)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug probe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testKey) {
		t.Error("the debug probe shows the key")
	}
}

// TestDebugProbeSpendsAsAProbe: the debug probe is a probe: the ceiling and
// the cache hold, and its log says which stopped the call.
func TestDebugProbeSpendsAsAProbe(t *testing.T) {
	e := newEnv(t, func(a *accounts.Account, _ *Options) { a.MaxCallsPerMinute = 1 })
	if _, _, out := e.debugProbe("prod"); !strings.Contains(out, "-> HTTP 200") {
		t.Fatalf("first debug probe made no call:\n%s", out)
	}
	_, _, out := e.debugProbe("prod")
	if !strings.Contains(out, "balance: guard: budget: the key's ceiling of calls a minute is spent") ||
		!strings.Contains(out, "calls may resume at 08:01:01") || !strings.Contains(out, "no call: the last good answer is shown") {
		t.Errorf("the second debug probe within a minute does not say the budget stopped it:\n%s", out)
	}
	if n := e.fake.Requests("balance"); n != 1 {
		t.Errorf("%d balance calls, want 1: the ceiling of 1 a minute holds for the debug probe", n)
	}

	c := newEnv(t, withTTL(time.Minute))
	c.debugProbe("prod")
	if _, _, out := c.debugProbe("prod"); !strings.Contains(out, "balance: guard: cache: an answer younger than the cache TTL (--sunor.cache-ttl): no call; calls may resume at 08:01:00") {
		t.Errorf("the cache is not named:\n%s", out)
	}
}

// TestDebugProbeFailedCall: a call that fails shows its status, reason,
// Retry-After and the API's message, redacted; a probe in the back-off says so.
func TestDebugProbeFailedCall(t *testing.T) {
	e := newEnv(t)
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailRateLimited })
	_, _, out := e.debugProbe("prod")
	if !strings.Contains(out, `-> HTTP 429 in `) || !strings.Contains(out, "; Retry-After 30s; failed: rate_limited: \"rate limit exceeded\"") {
		t.Errorf("the 429 is not described:\n%s", out)
	}
	_, _, out = e.debugProbe("prod")
	if !strings.Contains(out, "balance: guard: backoff: a 429's Retry-After is running") || !strings.Contains(out, "sunor_api_up 0 until calls resume at 08:00:30") {
		t.Errorf("the back-off is not named:\n%s", out)
	}
	e.clock.Advance(time.Minute)
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailEchoKey })
	_, _, out = e.debugProbe("prod")
	if strings.Contains(out, testKey) || !strings.Contains(out, `failed: unauthorized: "key <redacted> is not valid"`) {
		t.Errorf("the API's message is not redacted:\n%s", out)
	}
}

// TestDebugProbeUnknownAccount: answered as a plain /probe, 400, naming no
// other account.
func TestDebugProbeUnknownAccount(t *testing.T) {
	e := newEnv(t)
	code, _, out := e.debugProbe("nope")
	rec := httptest.NewRecorder()
	ProbeHandler(e.exp, HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?account=nope", nil))
	if code != 400 || out != rec.Body.String() || strings.Contains(out, "prod") {
		t.Errorf("%d %q, want 400 %q", code, out, rec.Body.String())
	}
	if e.fake.Requests("balance") != 0 {
		t.Error("an unknown account made a call")
	}
}

// TestDebugProbeHostileName: a name that would start a line of its own in
// the text is quoted.
func TestDebugProbeHostileName(t *testing.T) {
	const name = "evil\nlevel=info msg=\"all is well\""
	e := newEnv(t, func(a *accounts.Account, _ *Options) { a.Name = name })
	code, _, out := e.debugProbe(strings.ReplaceAll(strings.ReplaceAll(name, "\n", "%0A"), " ", "+"))
	if code != 200 || !strings.Contains(out, `"evil\nlevel=info msg=\"all is well\""`) {
		t.Fatalf("%d\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "level=info") {
			t.Errorf("the name starts a line of its own: %q", l)
		}
	}
}

// TestRecentCallsBounded: the ring keeps the last RecentCallsKept calls, the
// newest first.
func TestRecentCallsBounded(t *testing.T) {
	e := newEnv(t)
	for range RecentCallsKept + 20 {
		e.scrape()
		e.clock.Advance(time.Second)
	}
	calls := e.exp.RecentCalls()
	if len(calls) != RecentCallsKept {
		t.Fatalf("%d calls kept, want %d", len(calls), RecentCallsKept)
	}
	if !calls[0].At.After(calls[len(calls)-1].At) || calls[0].Account != "prod" || calls[0].Status != 200 {
		t.Errorf("newest %+v, oldest %+v", calls[0], calls[len(calls)-1])
	}
	if want := e.clock.Now().Add(-time.Second); !calls[0].At.Round(time.Second).Equal(want) {
		t.Errorf("newest at %v, want %v", calls[0].At, want)
	}
}
