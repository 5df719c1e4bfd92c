package sunor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/fakesunor"
)

func TestReasonForStatus(t *testing.T) {
	for status, want := range map[int]Reason{
		401: ReasonUnauthorized, 403: ReasonUnauthorized, 429: ReasonRateLimited,
		500: ReasonServerError, 502: ReasonServerError, 599: ReasonServerError,
		301: ReasonRedirect, 302: ReasonRedirect, 307: ReasonRedirect,
		400: ReasonHTTPStatus, 402: ReasonHTTPStatus, 404: ReasonHTTPStatus, 204: ReasonHTTPStatus,
	} {
		if got := reasonForStatus(status); got != want {
			t.Errorf("reasonForStatus(%d) = %s, want %s", status, got, want)
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
}

func TestParseBaseURL(t *testing.T) {
	for _, bad := range []string{"", "sunor.cc", "ftp://sunor.cc", "http://", "https://user:pw@sunor.cc", "://x"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("ParseBaseURL(%q) accepted a bad URL", bad)
		}
	}
	u, err := ParseBaseURL("https://sunor.cc/")
	if err != nil || u.String() != "https://sunor.cc" {
		t.Errorf("ParseBaseURL(https://sunor.cc/) = %v, %v", u, err)
	}
	u, err = ParseBaseURL("http://127.0.0.1:8080/proxy/")
	if err != nil || u.String() != "http://127.0.0.1:8080/proxy" {
		t.Errorf("got %v, %v", u, err)
	}
}

func newTestClient(t *testing.T, key string) (*Client, *fakesunor.Server) {
	t.Helper()
	fake := fakesunor.New("k1")
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	base, err := ParseBaseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(base, &http.Client{}, func() string { return key }), fake
}

func TestClientBalanceAndUsage(t *testing.T) {
	c, _ := newTestClient(t, "k1")
	b, rl, err := c.Balance(context.Background())
	if err != nil || b != (Balance{950, 10, 960}) {
		t.Fatalf("Balance = %+v, %v", b, err)
	}
	if !rl.HasLimit || rl.Limit != 120 || rl.Remaining != 119 || !rl.HasReset {
		t.Errorf("rate limit = %+v, want limit 120, remaining 119, a reset", rl)
	}
	u, _, err := c.Usage(context.Background())
	if err != nil || u != (Usage{42, 350, 1000}) {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
}

// TestKeyRedactedFromAPIMessage: an API that repeats the key in its error
// message must not get it into our error text (and so our logs).
func TestKeyRedactedFromAPIMessage(t *testing.T) {
	c, fake := newTestClient(t, "k1")
	fake.Update("k1", func(a *fakesunor.Account) { a.Fail = fakesunor.FailEchoKey })
	_, _, err := c.Balance(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonUnauthorized {
		t.Fatalf("err = %v, want an unauthorized *Error", err)
	}
	if strings.Contains(err.Error(), "k1") || !strings.Contains(err.Error(), "<redacted>") {
		t.Errorf("error text %q must show <redacted> instead of the key", err)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Endpoint: EndpointBalance, Reason: ReasonRedirect, StatusCode: 302, Location: "https://elsewhere/"}
	if got := e.Error(); got != "balance: redirect (HTTP 302) (redirected to https://elsewhere/; fix --sunor.url)" {
		t.Errorf("Error() = %q", got)
	}
}
