package testtool

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

// TestServeAPIAndFetch: the fake answers on loopback; a request that gets
// no answer by its deadline is an error naming it, returned in time.
func TestServeAPIAndFetch(t *testing.T) {
	fake := fakesunor.New("k")
	fake.Update("k", func(a *fakesunor.Account) { a.Fail = fakesunor.FailHang })
	srv := ServeAPI(t, fake) // its cleanup must not wait for the hanging answer
	if code, body := Get(t, srv.URL+"/no-such-path"); code != http.StatusNotFound {
		t.Errorf("GET of an unknown path: %d %q, want 404", code, body)
	}
	if _, err := Scrape(context.Background(), srv.URL+"/no-such-path", "10"); err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("Scrape of an unknown path: err = %v, want one naming the 404", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := Request(ctx, http.MethodGet, srv.URL+"/api/v1/account/balance", http.Header{"X-Api-Key": {"k"}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "GET "+srv.URL+"/api/v1/account/balance") {
			t.Errorf("a hanging answer: err = %v, want one naming the request", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Request did not return by its deadline")
	}
}
