package collector

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// TestReloadAppliesSettingsToKeptAccount: a reload that changes an
// account's cache TTL, timeout, ceiling or reserve, with its identity
// unchanged, applies the new values at once and keeps the account's state
// (its counters go on).
func TestReloadAppliesSettingsToKeptAccount(t *testing.T) {
	clk := newClock()
	api := &scriptedAPI{answer: healthy, clock: clk}
	acct := accounts.Account{Account: config.Account{Name: "prod", Timeout: 5 * time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api, KeyID: "k", Identity: "id"}
	exp := New([]accounts.Account{acct}, Options{Now: clk.Now})
	gather(t, exp)

	// The cache TTL: an hour now, so the next scrape makes no call.
	acct.CacheTTL = time.Hour
	exp.SetAccounts([]accounts.Account{acct})
	clk.Advance(time.Second)
	mfs := gather(t, exp)
	if n, _ := api.count(); n != 1 {
		t.Errorf("cache_ttl raised to 1h by a reload: %d calls, want 1 (the second scrape from the cache)", n)
	}
	if v := skipped(mfs, "cache"); v != 1 {
		t.Errorf("skipped{reason=cache} = %v, want 1", v)
	}
	if v := mustValue(t, mfs, "sunor_api_requests_total", map[string]string{"endpoint": "balance"}); v != 1 {
		t.Errorf("sunor_api_requests_total = %v, want 1: the account lost its state", v)
	}

	// The timeout: 50 ms now, against an API that takes a second.
	acct.CacheTTL, acct.Timeout = 0, 50*time.Millisecond
	exp.SetAccounts([]accounts.Account{acct})
	api.mu.Lock()
	api.delay = time.Second
	api.mu.Unlock()
	start := time.Now()
	mfs = gather(t, exp)
	if took := time.Since(start); took >= time.Second {
		t.Errorf("timeout lowered to 50ms by a reload: the scrape took %s", took)
	}
	if v := errorsFor(mfs, "balance", string(sunor.ReasonTimeout)); v != 1 {
		t.Errorf("errors{reason=timeout} = %v, want 1", v)
	}
	api.mu.Lock()
	api.delay = 0
	api.mu.Unlock()

	// The ceiling: 2 a minute now, and two calls are in the window.
	acct.Timeout, acct.MaxCallsPerMinute = 5*time.Second, 2
	exp.SetAccounts([]accounts.Account{acct})
	before, _ := api.count()
	mfs = gather(t, exp)
	if n, _ := api.count(); n != before {
		t.Errorf("ceiling lowered to 2 by a reload, with 2 calls in the window: %d more calls, want 0", n-before)
	}
	if v := skipped(mfs, "budget"); v != 1 {
		t.Errorf("skipped{reason=budget} = %v, want 1", v)
	}

	// The reserve: 200 now, above the 100 the API says remain.
	acct.MaxCallsPerMinute, acct.RateLimitReserve = 12, 200
	exp.SetAccounts([]accounts.Account{acct})
	clk.Advance(2 * Window)
	gather(t, exp) // a call; its answer reaches the reserve
	before, _ = api.count()
	clk.Advance(time.Second)
	c, _ := exp.Probe(context.Background(), "prod")
	mfs = gather(t, c)
	if n, _ := api.count(); n != before {
		t.Errorf("reserve raised to 200 by a reload, 100 remaining: %d more calls, want 0", n-before)
	}
	if v := skipped(mfs, "reserve"); v != 1 {
		t.Errorf("skipped{reason=reserve} = %v, want 1", v)
	}
}

// returningAPI tells when each call has returned.
type returningAPI struct {
	*scriptedAPI
	returned chan struct{}
}

func (r returningAPI) Fetch(ctx context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	defer func() { r.returned <- struct{}{} }()
	return r.scriptedAPI.Fetch(ctx, ep)
}

// TestTinyDeadlineDoesNotWasteTheBudget: a client scraping every second
// with a deadline of a millisecond gives every call it starts a fair
// chance to answer: the key's budget is not spent on calls abandoned
// before any answer could come, and a Prometheus scraping every 15 s beside
// it keeps the balance at most 60 s old, as with no such client.
func TestTinyDeadlineDoesNotWasteTheBudget(t *testing.T) {
	clk := newClock()
	api := returningAPI{&scriptedAPI{answer: healthy, clock: clk, delay: 20 * time.Millisecond}, make(chan struct{}, 2)}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 5 * time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api}},
		Options{Now: clk.Now})
	start := clk.Now()
	for i := 0; clk.Now().Sub(start) < 5*time.Minute; i++ {
		for len(api.returned) > 0 { // the patient scrape's
			<-api.returned
		}
		before, _ := api.count()
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		gather(t, exp.WithContext(ctx))
		cancel()
		if after, _ := api.count(); after != before {
			select { // the patient scrape below joins no call of this one
			case <-api.returned:
			case <-time.After(10 * time.Second):
				t.Fatal("a call never returned")
			}
		}
		if i%15 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 9500*time.Millisecond)
			mfs := gather(t, exp.WithContext(ctx))
			cancel()
			if clk.Now().Sub(start) >= 2*time.Minute {
				last, ok := value(mfs, "sunor_last_success_timestamp_seconds", nil)
				if age := float64(clk.Now().Unix()) - last; !ok || age > 60 {
					t.Fatalf("at %s: the balance is %.0f s old beside a client with 1 ms deadlines, want at most 60; %v timeouts", clk.Now().Sub(start), age, errorsFor(mfs, "balance", "timeout"))
				}
			}
		}
		clk.Advance(time.Second)
	}
}

// TestReservePauseIsNoWallClockTime: the end of a reserve pause taken
// from X-RateLimit-Reset is a time from now on the monotonic clock, so
// that a wall clock stepped back (NTP) does not stretch the pause beyond
// MaxReservePause.
func TestReservePauseIsNoWallClockTime(t *testing.T) {
	g := new(guard)
	g.configure(12, 10, 1)
	now := time.Now()
	until := g.observe(now, sunor.RateLimit{HasRemaining: true, Remaining: 5, HasReset: true, Reset: now.Round(0).Add(30 * time.Second)})
	if !strings.Contains(until.String(), " m=") {
		t.Errorf("the reserve pause ends at %s, a wall-clock time", until)
	}
	if d := until.Sub(now); d < 29*time.Second || d > 31*time.Second {
		t.Errorf("the reserve pause is %s, want the 30 s to X-RateLimit-Reset", d)
	}
}

// TestOversubscribedKeyServesOldestFirst: twenty accounts on one key, more
// than its ceiling of 12 calls a minute can refresh every minute, scraped
// on /metrics every second: the slots that free together a minute after a
// burst go to the oldest balances, so every balance is refreshed in turn,
// about every 20/12 minutes, and none ages past MaxStale into sunor_api_up
// 0 on a healthy API.
func TestOversubscribedKeyServesOldestFirst(t *testing.T) {
	clk := newClock()
	api := &scriptedAPI{answer: healthy, clock: clk}
	var accts []accounts.Account
	for i := range 20 {
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprint("a", i), Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api, KeyID: "k"})
	}
	exp := New(accts, Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
	// The first two minutes give every account its first answer.
	start := clk.Now()
	var oldest float64
	for clk.Now().Sub(start) < 10*time.Minute {
		mfs := gather(t, exp)
		if clk.Now().Sub(start) >= 2*time.Minute {
			for _, m := range mfs["sunor_last_success_timestamp_seconds"].GetMetric() {
				oldest = max(oldest, float64(clk.Now().Unix())-m.GetGauge().GetValue())
			}
			if n := len(mfs["sunor_last_success_timestamp_seconds"].GetMetric()); n != 20 {
				t.Fatalf("at %s: %d of 20 accounts ever answered", clk.Now().Sub(start), n)
			}
		}
		clk.Advance(time.Second)
	}
	// Fair turns take 20/12 of a window; the bound leaves a little slack.
	if bound := (5 * Window / 2).Seconds(); oldest > bound {
		t.Errorf("a balance was %.0f s old, want at most %.0f: some accounts wait for many turns", oldest, bound)
	}
	if most := api.mostInWindow(); most > 12 {
		t.Errorf("%d calls in some 60 s, want at most 12", most)
	}
}

// TestHungAPIBoundsTheQueue: hundreds of accounts on an API that never
// answers, scraped again and again faster than calls end: the queue holds
// at most one call per account and endpoint, and the goroutines stay the
// cap's, whatever the number of scrapes.
func TestHungAPIBoundsTheQueue(t *testing.T) {
	hung := &blockingAPI{block: make(chan struct{})}
	defer close(hung.block)
	var accts []accounts.Account
	for i := range 300 {
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprint("a", i), Timeout: time.Hour}, API: hung})
	}
	exp := New(accts, Options{MaxConcurrentCalls: 4, Scrapers: []Scraper{Usage}})
	goroutines := runtime.NumGoroutine()
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		gather(t, exp.WithContext(ctx))
		cancel()
	}
	exp.calls.mu.Lock()
	queued, running := len(exp.calls.queue[0])+len(exp.calls.queue[1]), exp.calls.running
	exp.calls.mu.Unlock()
	if queued > 2*300-running || running > 4 {
		t.Errorf("%d calls queued and %d running after 10 scrapes of 300 accounts, want at most one per account and endpoint, 4 running", queued, running)
	}
	if n := runtime.NumGoroutine(); n > goroutines+4+10 {
		t.Errorf("%d goroutines after 10 scrapes, %d before: the calls beyond the cap hold goroutines", n, goroutines)
	}
}

// TestRemovedAccountsQueuedCallIsNotMade: a call queued behind the cap
// for an account that a reload removes is not made when the slot frees,
// and gives its slot of the key's window back to the accounts that stay.
func TestRemovedAccountsQueuedCallIsNotMade(t *testing.T) {
	slow := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 1)}
	gone, stay := &scriptedAPI{answer: healthy}, &scriptedAPI{answer: healthy}
	acct := func(name string, api accounts.API) accounts.Account {
		return accounts.Account{Account: config.Account{Name: name, Timeout: time.Hour, MaxCallsPerMinute: 1}, API: api, KeyID: "k", Identity: name}
	}
	slowAcct := accounts.Account{Account: config.Account{Name: "slow", Timeout: time.Hour}, API: slow, KeyID: "other", Identity: "slow"}
	exp := New([]accounts.Account{slowAcct, acct("gone", gone), acct("stay", stay)}, Options{MaxConcurrentCalls: 1})
	s, _ := exp.Probe(context.Background(), "slow")
	go collectOnce(s)
	<-slow.called // slow holds the only slot

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	g, _ := exp.Probe(ctx, "gone")
	gather(t, g) // its call is queued, holding the key's one slot
	cancel()
	st := exp.byName["gone"].endpoints[0]
	st.mu.Lock()
	f := st.flight
	st.mu.Unlock()
	if f == nil || !f.queued {
		t.Fatal("gone's call is not queued")
	}
	exp.SetAccounts([]accounts.Account{slowAcct, acct("stay", stay)})
	close(slow.block)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the queued call of the removed account never left the queue")
	}
	if n, _ := gone.count(); n != 0 {
		t.Errorf("the removed account's queued call was made (%d calls)", n)
	}
	c, _ := exp.Probe(context.Background(), "stay")
	if up := mustValue(t, gather(t, c), "sunor_api_up", nil); up != 1 {
		t.Errorf("stay, on the key's slot the removed account gave back: up %v, want 1", up)
	}
}

// TestSkipAfterFailureShowsDown: once the API fails, a scrape the guard
// answers without a call shows sunor_api_up 0 too, not the last good
// answer: three Prometheus servers at 15 s against a failing API showed
// up 1 at every budget skip for the next 4 minutes, and an alert on
// sunor_api_up == 0 waiting `for:` a while started over each time. It
// shows the answer again once a call succeeds.
func TestSkipAfterFailureShowsDown(t *testing.T) {
	clk := newClock()
	var failing atomic.Bool
	api := &scriptedAPI{clock: clk, answer: func(n int) ([]float64, sunor.RateLimit, error) {
		if failing.Load() {
			return serverError(n)
		}
		return healthy(n)
	}}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api}},
		Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
	start := clk.Now()
	failed, skips := false, 0.0
	for clk.Now().Sub(start) < 8*time.Minute {
		failing.Store(clk.Now().Sub(start) >= 2*time.Minute && clk.Now().Sub(start) < 7*time.Minute)
		mfs := gather(t, exp)
		up := mustValue(t, mfs, "sunor_api_up", nil)
		failed = failed || errorsFor(mfs, "balance", string(sunor.ReasonServerError)) > 0
		skips = skipped(mfs, "budget")
		if failing.Load() && failed && up != 0 {
			t.Fatalf("at %s: up 1 on an API that fails since 2m", clk.Now().Sub(start))
		}
		clk.Advance(5 * time.Second)
	}
	if skips == 0 {
		t.Fatal("no budget skips: the test does not test what it says")
	}
	if up := mustValue(t, gather(t, exp), "sunor_api_up", nil); up != 1 {
		t.Errorf("a minute after the API healed: up %v, want 1", up)
	}
}

// TestKeyBackSoonKeepsItsGuard: a key that leaves the accounts and comes
// back within the window, as a key file does when a Secret's directory is
// rewritten between two reads, finds its guard as it left it: the calls
// of the last minute and a running back-off still count.
func TestKeyBackSoonKeepsItsGuard(t *testing.T) {
	clk := newClock()
	api := &scriptedAPI{answer: healthy, clock: clk}
	acct := accounts.Account{Account: config.Account{Name: "prod", Timeout: time.Second, MaxCallsPerMinute: 2}, API: api, KeyID: "k", Identity: "prod"}
	exp := New([]accounts.Account{acct}, Options{Now: clk.Now})
	gather(t, exp)
	clk.Advance(40 * time.Second) // the balance is old enough for the last slot
	gather(t, exp)
	exp.SetAccounts(nil)
	exp.SetAccounts([]accounts.Account{acct})
	clk.Advance(time.Second)
	if mfs := gather(t, exp); skipped(mfs, "budget") != 1 {
		t.Errorf("the key came back within the minute: skipped{reason=budget} = %v, want 1 (its 2 calls still in the window)", skipped(mfs, "budget"))
	}
	if n, _ := api.count(); n != 2 {
		t.Errorf("%d calls in 41 s with a ceiling of 2", n)
	}
	// Long gone, the guard is forgotten.
	exp.SetAccounts(nil)
	clk.Advance(MaxBackoff + time.Minute)
	exp.SetAccounts(nil)
	exp.mu.RLock()
	n := len(exp.guards)
	exp.mu.RUnlock()
	if n != 0 {
		t.Errorf("%d guards kept for keys gone for %s", n, MaxBackoff+time.Minute)
	}
}
