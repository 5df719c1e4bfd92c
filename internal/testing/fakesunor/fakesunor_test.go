package fakesunor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRateLimitHeaders: by default the fake sends X-RateLimit-Remaining
// alone, as the API's current docs promise; X-RateLimit-Limit and
// X-RateLimit-Reset come with the option, for the whole fake or one key.
func TestRateLimitHeaders(t *testing.T) {
	fake := New("k")
	fake.SetAccount("old", Account{Available: 1, LimitHeaders: true})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	headers := func(key string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/account/balance", nil)
		req.Header.Set("x-api-key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header
	}
	check := func(what string, h http.Header, remaining string, limit bool) {
		t.Helper()
		if got := h.Get("X-RateLimit-Remaining"); got != remaining {
			t.Errorf("%s: X-RateLimit-Remaining %q, want %q", what, got, remaining)
		}
		for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Reset"} {
			if sent := len(h.Values(name)) > 0; sent != limit {
				t.Errorf("%s: %s sent %v, want %v", what, name, sent, limit)
			}
		}
	}
	check("default", headers("k"), "119", false)
	check("the key's option", headers("old"), "119", true)

	// Through the control API, as a script would set it.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/fake/accounts/k", strings.NewReader(`{"limit_headers":true}`))
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT limit_headers: %v %v", resp, err)
	}
	check("PUT limit_headers", headers("k"), "118", true)

	fake.SetAccount("k", Account{})
	fake.LimitHeaders = true
	check("the fake's option", headers("k"), "117", true)
	if h := headers("k"); h.Get("X-RateLimit-Limit") != "120" {
		t.Errorf("X-RateLimit-Limit %q, want 120", h.Get("X-RateLimit-Limit"))
	}
}
