package testtool

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestMostInAMinute counts any 60 s, not calendar minutes: 12 calls over
// the second half of one minute and 12 over the first half of the next are
// 24 within 60 s.
func TestMostInAMinute(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var ts []time.Time
	for i := range 24 {
		ts = append(ts, t0.Add(30*time.Second+time.Duration(i)*2*time.Second))
	}
	if got := mostInAMinute(ts); got != 24 {
		t.Errorf("24 calls within 48 s: %d", got)
	}
	spread := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
	if got := mostInAMinute(spread); got != 1 {
		t.Errorf("calls exactly 60 s apart: %d, want 1", got)
	}
	if got := mostInAMinute(nil); got != 0 {
		t.Errorf("no calls: %d", got)
	}
}

func TestCallRecorder(t *testing.T) {
	rec := NewCallRecorder(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, p := range []string{"/api/v1/account/balance", "/api/v1/account/usage", "/fake/requests"} {
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("x-api-key", "k")
		rec.ServeHTTP(httptest.NewRecorder(), req)
	}
	if most, total := rec.Busiest("k"); most != 2 || total != 2 {
		t.Errorf("Busiest = %d, %d; want 2, 2 (the control path is no call)", most, total)
	}
	if most, total := rec.BusiestKey(); most != 2 || total != 2 {
		t.Errorf("BusiestKey = %d, %d; want 2, 2", most, total)
	}
	if rec.MostInFlight() != 1 {
		t.Errorf("MostInFlight = %d, want 1", rec.MostInFlight())
	}
}
