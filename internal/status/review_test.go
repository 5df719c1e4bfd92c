package status

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// echoAPI answers every call with a 401 whose message quotes another key.
type echoAPI struct{ echoed string }

func (a echoAPI) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonUnauthorized, StatusCode: 401,
		Path: ep.Path, Message: "key " + a.echoed + " is not valid"}
}

// TestPageShowsNoOtherKey: the client cleans an API message of the key it
// sent; an API echoing another key in use (another account's, the one
// before a rotation) must not show it on the page or in its JSON either,
// as it shows in no log line.
func TestPageShowsNoOtherKey(t *testing.T) {
	const other = "sk-other-account-key-4f9a2c"
	redact.Known.Add(other)
	exp := collector.New([]accounts.Account{{Account: config.Account{Name: "echo", LowCreditsThreshold: 500, TaskCost: 10},
		API: echoAPI{echoed: other}}}, collector.Options{})
	if _, err := collectOnce(exp); err == nil {
		t.Log("the scrape had no error")
	}
	h := Handler(exp, Options{})
	for _, q := range []string{"/", "/status?format=json"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", q, nil))
		body := rec.Body.String()
		if strings.Contains(body, other) || strings.Contains(body, other[:12]) {
			t.Errorf("%s shows the other key: %s", q, body)
		}
		if !strings.Contains(body, "redacted") {
			t.Errorf("%s does not show the message redacted", q)
		}
	}
}

// deadlineWriter records the write deadline http.ResponseController sets.
type deadlineWriter struct {
	*httptest.ResponseRecorder
	deadline time.Time
}

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }

// TestPageHasAWriteDeadline: the page is larger than a socket's buffers,
// so a client that never reads would hold a slot of --web.max-requests
// for as long as its connection lives; the writing ends after
// collector.DefaultWriteTimeout, as for /metrics, /probe and /sd.
func TestPageHasAWriteDeadline(t *testing.T) {
	exp := collector.New(nil, collector.Options{})
	// A clock far in the past: the deadline is the real clock's.
	h := Handler(exp, Options{Now: func() time.Time { return time.Unix(0, 0) }})
	for _, q := range []string{"/", "/status?format=json"} {
		w := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
		came := time.Now()
		h.ServeHTTP(w, httptest.NewRequest("GET", q, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", q, w.Code)
		}
		if w.deadline.Before(came.Add(collector.DefaultWriteTimeout)) || w.deadline.After(time.Now().Add(collector.DefaultWriteTimeout)) {
			t.Errorf("%s: write deadline %v after the request, want %v", q, w.deadline.Sub(came), collector.DefaultWriteTimeout)
		}
	}
}
