package testtool

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

// Client sends the requests of Fetch and Request. Its deadline makes a
// hung server fail the test, saying which request hung, instead of hanging
// the suite.
var Client = &http.Client{Timeout: 20 * time.Second}

// Fetch sends method to url with an empty body and returns the status and
// the body. No answer within Client's deadline fails the test.
func Fetch(t testing.TB, method, url string) (int, string) {
	t.Helper()
	code, body, err := Request(context.Background(), method, url, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return code, body
}

// Get is Fetch of a GET.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	return Fetch(t, http.MethodGet, url)
}

// Request is Fetch for a program that is not a test (tools/), with a
// context and request headers: it returns an error where Fetch fails the
// test. The error names the method and URL.
func Request(ctx context.Context, method, url string, header http.Header) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := Client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), nil
}

// ServeAPI serves h, a fake Sunor API or a handler in front of one, on a
// loopback port until the test ends. When h is a *fakesunor.Server, its
// Close runs first, releasing the answers it holds back, which the
// server's Close would otherwise wait for; a handler in front of a fake
// closes the fake itself (t.Cleanup(fake.Close) after ServeAPI).
func ServeAPI(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	// Cleanups run last-in first-out: release hanging handlers, then close.
	t.Cleanup(srv.Close)
	if f, ok := h.(*fakesunor.Server); ok {
		t.Cleanup(f.Close)
	}
	return srv
}

// Scrape GETs url as Prometheus does, with the scrape timeout header
// (timeout in seconds), and returns the body; a status other than 200 is
// an error naming it.
func Scrape(ctx context.Context, url, timeout string) (string, error) {
	code, body, err := Request(ctx, http.MethodGet, url, http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {timeout}})
	if err == nil && code != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %s", url, code, http.StatusText(code))
	}
	return body, err
}
