package fakesunor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// get asks the fake for endpoint with key and returns the status, the
// X-RateLimit-Remaining header and, for a good answer, its data fields in
// the API's order. Hanging modes end at the context's deadline: a second,
// not less, so that a good answer on a loaded machine is never taken for a
// hang (50 ms flaked under a parallel test run).
func get(t *testing.T, base, key, endpoint string) (int, string, []float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/account/"+endpoint, nil)
	req.Header.Set("x-api-key", key)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, "", nil // hang
	}
	defer resp.Body.Close()
	var body struct {
		Code int                `json:"code"`
		Data map[string]float64 `json:"data"`
	}
	// At most 1 MiB, as the exporter reads: huge_body holds good values.
	remaining := resp.Header.Get("X-RateLimit-Remaining")
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil || body.Code != 200 {
		return resp.StatusCode, remaining, nil
	}
	fields := map[string][]string{"balance": {"available", "frozen", "total"}, "usage": {"tasks_created", "credits_used", "credits_topped_up"}}[endpoint]
	var v []float64
	for _, f := range fields {
		x, ok := body.Data[f]
		if !ok {
			return resp.StatusCode, remaining, nil
		}
		v = append(v, x)
	}
	return resp.StatusCode, remaining, v
}

func TestChaosDealsEveryModeAndRecordsWhatItServed(t *testing.T) {
	run := func(seed uint64) []Served {
		fake := New("k")
		fake.RetryAfter = "1"
		fake.LimitHeaders = true
		srv := httptest.NewServer(fake)
		defer srv.Close()
		defer fake.Close()
		fake.Chaos(seed)
		deck := 2*len(FailModes) + 1
		for i := 0; i < deck; i++ {
			endpoint := []string{"balance", "usage"}[i%2]
			status, remaining, got := get(t, srv.URL, "k", endpoint)
			rec := fake.Served()[i]
			if rec.Endpoint != endpoint || rec.Key != "k" {
				t.Fatalf("answer %d recorded as %+v", i, rec)
			}
			if rec.Fail == FailNone && (status != 200 || !slices.Equal(got, rec.Values)) {
				t.Errorf("answer %d: served %d %v, recorded %v", i, status, got, rec.Values)
			}
			if low := !rec.LowUntil.IsZero(); low != (remaining == "3") {
				t.Errorf("answer %d: LowUntil %v, X-RateLimit-Remaining %s", i, rec.LowUntil, remaining)
			}
			if rec.Fail != FailNone && got != nil {
				t.Errorf("answer %d (%s): a client decoded values %v", i, rec.Fail, got)
			}
		}
		return fake.Served()
	}

	served := run(7)
	seen := map[string]int{}
	for _, r := range served {
		seen[r.Fail]++
		if !r.LowUntil.IsZero() {
			seen[lowRemaining]++
		}
	}
	for _, m := range append([]string{FailNone, lowRemaining}, FailModes...) {
		want := 1
		if m == FailNone {
			want = len(FailModes) + 1 // the low-remaining card is a good answer too
		}
		if seen[m] != want {
			t.Errorf("one deck dealt %q %d times, want %d", m, seen[m], want)
		}
	}
	again := run(7)
	for i := range served {
		if served[i].Fail != again[i].Fail || !slices.Equal(served[i].Values, again[i].Values) {
			t.Fatalf("the same seed dealt a different card %d: %+v, then %+v", i, served[i], again[i])
		}
	}
}
