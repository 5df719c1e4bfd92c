package testtool

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CallRecorder wraps a fake API and keeps when each key called it and the
// most calls in flight at once, for the load tools that check the per-key
// ceiling in any 60 s and the cap on calls in flight.
type CallRecorder struct {
	next               http.Handler
	inFlight, mostLive atomic.Int64
	mu                 sync.Mutex
	at                 map[string][]time.Time
}

// NewCallRecorder records the API calls (paths under /api/) that reach next.
func NewCallRecorder(next http.Handler) *CallRecorder {
	return &CallRecorder{next: next, at: map[string][]time.Time{}}
}

func (r *CallRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/api/") {
		n := r.inFlight.Add(1)
		defer r.inFlight.Add(-1)
		for m := r.mostLive.Load(); n > m && !r.mostLive.CompareAndSwap(m, n); m = r.mostLive.Load() {
		}
		r.mu.Lock()
		k := req.Header.Get("x-api-key")
		r.at[k] = append(r.at[k], time.Now())
		r.mu.Unlock()
	}
	r.next.ServeHTTP(w, req)
}

// MostInFlight is the most calls that were in flight at once.
func (r *CallRecorder) MostInFlight() int64 { return r.mostLive.Load() }

// Busiest returns the most calls of key within any 60 s, and all its calls.
func (r *CallRecorder) Busiest(key string) (most, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return mostInAMinute(r.at[key]), len(r.at[key])
}

// BusiestKey returns the most calls of any one key within any 60 s, and
// all calls of every key.
func (r *CallRecorder) BusiestKey() (most, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range r.at {
		most, total = max(most, mostInAMinute(ts)), total+len(ts)
	}
	return most, total
}

// mostInAMinute is the most of ts (in order) that fall within any 60 s.
func mostInAMinute(ts []time.Time) (most int) {
	j := 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Minute {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}
