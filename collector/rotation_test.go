package collector

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// rotatingAccount is one account whose key source returns *key.
func rotatingAccount(t *testing.T, perMinute int) (*Exporter, *account, func(string), *clock) {
	t.Helper()
	clk := newClock()
	var mu sync.Mutex
	key := "k-start"
	set := func(k string) { mu.Lock(); key = k; mu.Unlock() }
	acct := accounts.Account{Account: config.Account{Name: "a", Timeout: time.Second, MaxCallsPerMinute: perMinute},
		KeyID: "k-start", Identity: "a", API: answeringAPI{},
		Keys: func(context.Context) (string, string) { mu.Lock(); defer mu.Unlock(); return key, key }}
	exp := New([]accounts.Account{acct}, Options{Now: clk.Now})
	a := exp.snapshot()[0]
	// Keys seen once and left without a call (a directory being rewritten):
	// idle guards, so that the next follows reach the sweep (sweepAt 66).
	for i := range 63 {
		set(fmt.Sprint("fill-", i))
		a.keyGuard()
	}
	return exp, a, set, clk
}

// TestGuardKeptBetweenKeyGuardAndTakeOff: a call reads its key and guard
// (keyGuard) and only then takes a slot of that guard (takeOff). A guard
// just created holds no call; if the account's key changes again in
// between (another endpoint's call) and that move sweeps the guards, the
// guard must not be forgotten, or the key coming back within the minute
// gets a fresh guard that does not know the call: 13 calls against a
// ceiling of 12.
func TestGuardKeptBetweenKeyGuardAndTakeOff(t *testing.T) {
	exp, a, set, clk := rotatingAccount(t, 12)
	set("k2")
	_, g2, _ := a.keyGuard() // the usage call's run: charged to k2's guard
	set("k3")
	a.keyGuard() // the balance call's run, a moment later: follow sweeps
	// The usage call's takeOff: a slot of g2, the call sent with k2.
	now := clk.Now()
	s, reason, _ := g2.allow(now, true, time.Duration(math.MaxInt64))
	if reason != "" {
		t.Fatalf("allow: %s", reason)
	}
	g2.start(s, now)
	sent := 1
	set("k2") // rotated back, within the minute
	_, back, _ := a.keyGuard()
	for range 20 {
		if s, reason, _ := back.allow(now, true, time.Duration(math.MaxInt64)); reason == "" {
			back.start(s, now)
			sent++
		}
	}
	exp.mu.Lock()
	kept := exp.guards["k2"] == g2
	exp.mu.Unlock()
	if sent > 12 {
		t.Errorf("%d calls with k2 in one minute, ceiling 12 (k2's guard kept: %v; forgotten while its call was being granted)", sent, kept)
	}
}

// TestNoCeilingBackoffKeptOverASweep: with no ceiling
// (--sunor.max-calls-per-minute=0) a guard holds no slot for a call in
// flight; it must still not be forgotten while the call runs, or the
// call's 429 lands on a guard nobody keeps, and the key rotated back calls
// at once, inside the API's Retry-After.
func TestNoCeilingBackoffKeptOverASweep(t *testing.T) {
	_, a, set, clk := rotatingAccount(t, 0)
	set("k1")
	_, g1, _ := a.keyGuard() // a call with k1 starts (no slot: no ceiling)
	set("k2")
	a.keyGuard() // another endpoint follows k2: sweep, k1's guard idle
	// The k1 call answers 429, Retry-After 600 s: failed() backs off g1.
	st := a.endpoints[0]
	st.failed(g1, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonRateLimited, StatusCode: 429, RetryAfter: 10 * time.Minute})
	clk.Advance(time.Second)
	set("k1")
	_, back, _ := a.keyGuard()
	if !back.paused(clk.Now()) {
		t.Errorf("k1 rotated back 1 s after its 429 (Retry-After 600 s) is not paused: its guard was forgotten while its call ran (same guard: %v)", back == g1)
	}
}
