package sunor

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

func TestReasonForStatus(t *testing.T) {
	for status, want := range map[int]Reason{
		401: ReasonUnauthorized, 403: ReasonUnauthorized, 429: ReasonRateLimited,
		500: ReasonServerError, 502: ReasonServerError, 599: ReasonServerError,
		301: ReasonRedirect, 302: ReasonRedirect, 307: ReasonRedirect, 300: ReasonRedirect,
		400: ReasonHTTPStatus, 402: ReasonHTTPStatus, 404: ReasonHTTPStatus, 204: ReasonHTTPStatus,
		304: ReasonHTTPStatus, // Not Modified points nowhere, whatever it carries
	} {
		if got := reasonForStatus(status, "https://elsewhere/"); got != want {
			t.Errorf("reasonForStatus(%d, with a Location) = %s, want %s", status, got, want)
		}
	}
	// Without a Location there is nothing to follow, so no --sunor.url to fix.
	for _, status := range []int{300, 301, 302, 304, 307} {
		if got := reasonForStatus(status, ""); got != ReasonHTTPStatus {
			t.Errorf("reasonForStatus(%d, no Location) = %s, want %s", status, got, ReasonHTTPStatus)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              DefaultRetryAfter,
		"17":                            17 * time.Second,
		" 0 ":                           0,
		"Tue, 24 Nov 2026 12:02:00 GMT": 2 * time.Minute,
		"Tue, 24 Nov 2026 11:00:00 GMT": 0, // in the past
		"soon":                          DefaultRetryAfter,
		"-5":                            DefaultRetryAfter,
		// Too long for a time.Duration: saturate, never wrap to a short or
		// negative wait.
		"4294967296":                    4294967296 * time.Second,
		"9223372036":                    9223372036 * time.Second,
		"9223372037":                    math.MaxInt64,
		"99999999999999999999999999":    math.MaxInt64,
		"Fri, 31 Dec 9999 23:59:59 GMT": math.MaxInt64,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestParseRateLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	if rl := parseRateLimit(h, now); rl.HasLimit || rl.HasRemaining || rl.HasReset {
		t.Errorf("no headers: %+v, want nothing present", rl)
	}
	h.Set("X-RateLimit-Limit", "120")
	h.Set("X-RateLimit-Remaining", "7")
	h.Set("X-RateLimit-Reset", "30") // seconds from now
	rl := parseRateLimit(h, now)
	if !rl.HasLimit || rl.Limit != 120 || !rl.HasRemaining || rl.Remaining != 7 || !rl.HasReset || !rl.Reset.Equal(now.Add(30*time.Second)) {
		t.Errorf("got %+v", rl)
	}
	h.Set("X-RateLimit-Reset", "1800000060") // a Unix time
	if rl := parseRateLimit(h, now); !rl.Reset.Equal(time.Unix(1_800_000_060, 0)) {
		t.Errorf("Unix reset: got %v", rl.Reset)
	}
	h.Set("X-RateLimit-Remaining", "many")
	h.Set("X-RateLimit-Limit", "NaN")
	if rl := parseRateLimit(h, now); rl.HasRemaining || rl.HasLimit {
		t.Errorf("non-numeric headers taken as numbers: %+v", rl)
	}
	for _, v := range []string{"-1", "1e300", "Inf", "-Inf", "4294967297", "1e400"} {
		h.Set("X-RateLimit-Remaining", v)
		h.Set("X-RateLimit-Limit", v)
		if rl := parseRateLimit(h, now); rl.HasRemaining || rl.HasLimit {
			t.Errorf("limit and remaining %q taken as numbers: %+v", v, rl)
		}
	}
}

// TestParseRateLimitReset: a reset is kept only when it is a plausible time
// within the next day; any other value is dropped, never wrapped around or
// guessed at.
func TestParseRateLimitReset(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for v, want := range map[string]time.Time{
		"0":            now,
		"59.5":         now.Add(59500 * time.Millisecond),
		"86399":        now.Add(86399 * time.Second),
		"1800000060":   time.Unix(1_800_000_060, 0),
		"1800000000.5": time.Unix(1_800_000_000, 5e8),
		"1799999950":   time.Unix(1_799_999_950, 0), // a clock a little behind
		"1800086400":   time.Unix(1_800_086_400, 0), // a day ahead
	} {
		rl := parseRateLimit(http.Header{"X-Ratelimit-Reset": {v}}, now)
		if !rl.HasReset || !rl.Reset.Equal(want) {
			t.Errorf("reset %q: %+v, want %v", v, rl, want)
		}
	}
	for _, v := range []string{
		"-1", "NaN", "Inf", "1e400",
		"86400",         // more than a day from now, yet not a Unix time
		"999999999",     // 2001
		"1799999900",    // 100 s in the past
		"1800086401",    // more than a day ahead
		"9220000000",    // year 2262: overflowed int64 nanoseconds
		"9223372036.9",  // the same, at the edge
		"1800000000000", // milliseconds since the epoch
		"1.7e12",
		"1e300",
	} {
		if rl := parseRateLimit(http.Header{"X-Ratelimit-Reset": {v}}, now); rl.HasReset {
			t.Errorf("reset %q kept as %v, want it dropped", v, rl.Reset)
		}
	}
}

func newTestClient(t *testing.T, key string) (*Client, *fakesunor.Server) {
	t.Helper()
	fake := fakesunor.New("k1")
	srv := testtool.ServeAPI(t, fake)
	base, err := baseurl.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(base, &http.Client{}, func(context.Context) string { return key }), fake
}

func TestClientBalanceAndUsage(t *testing.T) {
	c, fake := newTestClient(t, "k1")
	fake.LimitHeaders = true // an older API version, with every header
	b, rl, err := c.Fetch(context.Background(), Balance)
	if err != nil || !slices.Equal(b, []float64{950, 10, 960}) {
		t.Fatalf("Balance = %+v, %v", b, err)
	}
	if !rl.HasLimit || rl.Limit != 120 || rl.Remaining != 119 || !rl.HasReset {
		t.Errorf("rate limit = %+v, want limit 120, remaining 119, a reset", rl)
	}
	u, _, err := c.Fetch(context.Background(), Usage)
	if err != nil || !slices.Equal(u, []float64{42, 350, 1000}) {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
}

// TestKeyRedactedFromAPIMessage: an API that repeats the key in its error
// message must not get it into our error text (and so our logs).
func TestKeyRedactedFromAPIMessage(t *testing.T) {
	c, fake := newTestClient(t, "k1")
	fake.Update("k1", func(a *fakesunor.Account) { a.Fail = fakesunor.FailEchoKey })
	_, _, err := c.Fetch(context.Background(), Balance)
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonUnauthorized {
		t.Fatalf("err = %v, want an unauthorized *Error", err)
	}
	if strings.Contains(err.Error(), "k1") || !strings.Contains(err.Error(), "<redacted>") {
		t.Errorf("error text %q must show <redacted> instead of the key", err)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Endpoint: "balance", Reason: ReasonRedirect, StatusCode: 302, Location: "https://elsewhere/"}
	if got := e.Error(); got != "balance: redirect (HTTP 302) (redirected to https://elsewhere/; fix --sunor.url)" {
		t.Errorf("Error() = %q", got)
	}
}
