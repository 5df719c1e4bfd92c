package collector

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// scriptedAPI answers from a function of the call's number, after delay,
// and counts calls and how many were in flight at once.
type scriptedAPI struct {
	answer func(n int) ([]float64, sunor.RateLimit, error)
	delay  time.Duration
	clock  *clock // if set, the time of every call is kept

	mu                    sync.Mutex
	calls                 int
	inFlight, maxInFlight int
	times                 []time.Time
	endpoints             map[string]int
}

func (s *scriptedAPI) Fetch(ctx context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	if s.clock != nil {
		s.times = append(s.times, s.clock.Now())
	}
	if s.endpoints == nil {
		s.endpoints = map[string]int{}
	}
	s.endpoints[ep.Name]++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonTimeout, Message: "abandoned"}
		}
	}
	if s.answer == nil {
		return []float64{100, 0, 100}, sunor.RateLimit{}, nil
	}
	return s.answer(n)
}

// mostInWindow is the most calls within any Window.
func (s *scriptedAPI) mostInWindow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	most := 0
	for i, t := range s.times {
		n := 0
		for _, u := range s.times[i:] {
			if u.Sub(t) < Window {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

func (s *scriptedAPI) count() (calls, maxInFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.maxInFlight
}

// guardEnv is one account on a scripted API, with a fake clock.
type guardEnv struct {
	t     *testing.T
	api   *scriptedAPI
	exp   *Exporter
	clock *clock
	log   *testtool.Lines
}

func newGuardEnv(t *testing.T, api *scriptedAPI, perMinute, reserve int) *guardEnv {
	g := &guardEnv{t: t, api: api, clock: newClock(), log: &testtool.Lines{}}
	g.exp = New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 5 * time.Second, MaxCallsPerMinute: perMinute, RateLimitReserve: reserve}, API: api}},
		Options{Logger: log.NewLogfmtLogger(g.log), Now: g.clock.Now})
	return g
}

func (g *guardEnv) scrape() map[string]*dto.MetricFamily { return gather(g.t, g.exp) }

func skipped(mfs map[string]*dto.MetricFamily, reason string) float64 {
	v, _ := value(mfs, "sunor_api_calls_skipped_total", map[string]string{"endpoint": "balance", "reason": reason})
	return v
}

func serverError(int) ([]float64, sunor.RateLimit, error) {
	return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonServerError, StatusCode: 500}
}

// TestBudgetCeiling: 100 back-to-back scrapes make at most the ceiling's
// calls, whether the API answers or fails; a healthy API's balance is in
// every scrape, an old one is not made up.
func TestBudgetCeiling(t *testing.T) {
	for _, failing := range []bool{false, true} {
		api := &scriptedAPI{}
		if failing {
			api.answer = serverError
		}
		g := newGuardEnv(t, api, 12, 10)
		var mfs map[string]*dto.MetricFamily
		up := 0
		for range 100 {
			mfs = g.scrape()
			if v, _ := value(mfs, "sunor_api_up", nil); v == 1 {
				up++
			}
			g.clock.Advance(100 * time.Millisecond) // 100 scrapes in 10 s
		}
		calls, _ := api.count()
		// The last slot is kept for a balance half a minute old, or
		// with no answer at all.
		want := 11
		if failing {
			want = 12
		}
		if calls != want {
			t.Errorf("failing=%v: %d calls for 100 scrapes in 10 s, want %d (the ceiling; with an answer, less the slot kept for an older balance)", failing, calls, want)
		}
		if got := mustValue(t, mfs, "sunor_api_requests_total", map[string]string{"endpoint": "balance"}); int(got) != calls {
			t.Errorf("failing=%v: sunor_api_requests_total = %v, the API saw %d", failing, got, calls)
		}
		if got := skipped(mfs, "budget"); int(got) != 100-calls {
			t.Errorf("failing=%v: skipped{reason=budget} = %v, want %d", failing, got, 100-calls)
		}
		if failing && up != 0 {
			t.Errorf("a failing API showed sunor_api_up 1 in %d scrapes; nothing good was ever answered", up)
		}
		if !failing && up != 100 {
			t.Errorf("a healthy API showed its balance in %d of 100 scrapes, want all", up)
		}
		if n := len(logLines(g.log.String(), "Not calling the Sunor API")); n != 1 {
			t.Errorf("failing=%v: %d log lines for one run of skipped calls, want 1:\n%s", failing, n, g.log)
		}
	}
}

// TestBudgetDefaultsNeverMeetAt15s: the default ceiling (12 a minute) is
// never met by one Prometheus every 15 s with usage on (8 calls a minute).
func TestBudgetDefaultsNeverMeetAt15s(t *testing.T) {
	api := &scriptedAPI{answer: func(int) ([]float64, sunor.RateLimit, error) { return []float64{1, 1, 2}, sunor.RateLimit{}, nil }}
	clk := newClock()
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api}},
		Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
	for range 40 { // ten minutes
		gather(t, exp)
		clk.Advance(15 * time.Second)
	}
	if calls, _ := api.count(); calls != 80 {
		t.Errorf("%d calls in 40 scrapes of two endpoints, want 80: every scrape calls", calls)
	}
}

// TestReuseAtMostFiveMinutes: while no call may be made, the last good
// answer is reused for 5 minutes, then the scrape says sunor_api_up 0 with
// no credit series.
func TestReuseAtMostFiveMinutes(t *testing.T) {
	api := &scriptedAPI{answer: func(n int) ([]float64, sunor.RateLimit, error) {
		if n == 1 {
			return []float64{950, 10, 960}, sunor.RateLimit{}, nil
		}
		return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonRateLimited, StatusCode: 429, RetryAfter: 10 * time.Minute}
	}}
	g := newGuardEnv(t, api, 0, 10)
	g.scrape()                       // success at t0
	g.clock.Advance(time.Second)     //
	g.scrape()                       // a 429: back off 10 minutes
	g.clock.Advance(4 * time.Minute) // t0+4m1s
	mfs := g.scrape()
	if v := mustValue(t, mfs, "sunor_credits_available", nil); v != 950 {
		t.Errorf("within 5 minutes: available = %v, want the last good 950", v)
	}
	if v := mustValue(t, mfs, "sunor_api_up", nil); v != 1 {
		t.Errorf("within 5 minutes: up = %v, want 1", v)
	}
	if v := mustValue(t, mfs, "sunor_last_success_timestamp_seconds", nil); v != 1.8e9 {
		t.Errorf("last success = %v, want the answer's own time 1.8e9", v)
	}
	g.clock.Advance(time.Minute) // t0+5m1s
	mfs = g.scrape()
	if v := mustValue(t, mfs, "sunor_api_up", nil); v != 0 {
		t.Errorf("after 5 minutes: up = %v, want 0", v)
	}
	if _, ok := mfs["sunor_credits_available"]; ok {
		t.Error("after 5 minutes a credit series is still shown")
	}
	if calls, _ := api.count(); calls != 2 {
		t.Errorf("%d calls, want 2 (none during the back-off)", calls)
	}
	if got := skipped(mfs, "backoff"); got != 2 {
		t.Errorf("skipped{reason=backoff} = %v, want 2", got)
	}
}

// TestReserve: with X-RateLimit-Remaining at or below the reserve, no call
// until the window resets: at X-RateLimit-Reset when sent, but at most
// MaxReservePause away (a skewed reset must not stop the balance for a
// quarter of an hour), else a minute after that answer. Remaining alone is
// enough.
func TestReserve(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reset     time.Duration // from the answer; 0: no header
		remaining float64
		resumeIn  time.Duration
	}{
		{"with reset", 20 * time.Second, 10, 20 * time.Second},
		{"remaining alone", 0, 3, time.Minute},
		{"skewed reset", 899 * time.Second, 0, MaxReservePause},
		{"implausible reset", 2 * time.Hour, 0, MaxReservePause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			api := &scriptedAPI{}
			api.answer = func(n int) ([]float64, sunor.RateLimit, error) {
				rl := sunor.RateLimit{Remaining: tc.remaining, HasRemaining: true}
				if n > 1 {
					rl.Remaining = 100
				}
				if tc.reset > 0 {
					rl.Reset, rl.HasReset = clk.Now().Add(tc.reset), true
				}
				return []float64{5, 0, 5}, rl, nil
			}
			g := newGuardEnv(t, api, 0, 10)
			g.clock = clk
			g.exp = New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, RateLimitReserve: 10}, API: api}}, Options{Now: clk.Now, Logger: log.NewLogfmtLogger(g.log)})
			g.scrape()
			g.clock.Advance(tc.resumeIn - time.Second)
			mfs := g.scrape()
			if calls, _ := api.count(); calls != 1 {
				t.Fatalf("%d calls before the window reset, want 1", calls)
			}
			if skipped(mfs, "reserve") != 1 || mustValue(t, mfs, "sunor_api_up", nil) != 1 {
				t.Errorf("in the reserve: skipped{reserve} %v, up %v; want 1 and 1 (the last answer reused)", skipped(mfs, "reserve"), mustValue(t, mfs, "sunor_api_up", nil))
			}
			if !strings.Contains(g.log.String(), "reason=reserve") {
				t.Errorf("no log line names the reserve:\n%s", g.log)
			}
			g.clock.Advance(2 * time.Second)
			g.scrape()
			if calls, _ := api.count(); calls != 2 {
				t.Errorf("%d calls after the window reset, want 2", calls)
			}
			if !strings.Contains(g.log.String(), "Calling the Sunor API again") {
				t.Errorf("no log line says calls resumed:\n%s", g.log)
			}
		})
	}
}

// TestRetryAfterCapped: a Retry-After of 2^32 s is honoured for 15 minutes,
// and the cap is logged.
func TestRetryAfterCapped(t *testing.T) {
	api := &scriptedAPI{answer: func(n int) ([]float64, sunor.RateLimit, error) {
		if n == 1 {
			return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonRateLimited, StatusCode: 429, RetryAfter: (1 << 32) * time.Second}
		}
		return []float64{1, 0, 1}, sunor.RateLimit{}, nil
	}}
	g := newGuardEnv(t, api, 0, 10)
	g.scrape()
	if !strings.Contains(g.log.String(), "retry_after_capped") || !strings.Contains(g.log.String(), "backoff_until=2027-01-15T08:15:00Z") {
		t.Errorf("the log does not say the Retry-After was capped to 15 minutes:\n%s", g.log)
	}
	g.clock.Advance(MaxBackoff - time.Second)
	g.scrape()
	g.clock.Advance(2 * time.Second)
	if v := mustValue(t, g.scrape(), "sunor_api_up", nil); v != 1 {
		t.Errorf("up = %v after the capped back-off, want 1", v)
	}
	if calls, _ := api.count(); calls != 2 {
		t.Errorf("%d calls, want 2: one 429, one after 15 minutes", calls)
	}
}

// TestTimeoutCountedInItsOwnScrape: a scrape whose call timed out shows the
// timeout already counted in its own output (a scrape of at least
// minCallTime: a call is given that much whatever its scrape's deadline).
func TestTimeoutCountedInItsOwnScrape(t *testing.T) {
	for i := range 3 {
		api := &blockingAPI{block: make(chan struct{})}
		exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 10 * time.Second}, API: api}}, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), minCallTime+100*time.Millisecond)
		mfs := gather(t, exp.WithContext(ctx))
		cancel()
		if got := errorsFor(mfs, "balance", "timeout"); got != 1 {
			t.Errorf("try %d: the scrape whose call timed out shows timeout = %v, want 1", i, got)
		}
		close(api.block)
	}
}

// TestHurriedScraperDoesNotSpoilPatientOne: a client looping with short
// deadlines shares calls with a patient Prometheus, whose scrapes still see
// the answer; one call in flight at a time.
func TestHurriedScraperDoesNotSpoilPatientOne(t *testing.T) {
	api := &scriptedAPI{delay: 300 * time.Millisecond}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 5 * time.Second}, API: api}}, Options{})
	stop := make(chan struct{})
	hurried := make(chan struct{})
	go func() {
		defer close(hurried)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			gather(t, exp.WithContext(ctx))
			cancel()
		}
	}()
	for i := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if v, _ := value(gather(t, exp.WithContext(ctx)), "sunor_api_up", nil); v != 1 {
			t.Errorf("patient scrape %d: sunor_api_up %v, want 1", i, v)
		}
		cancel()
	}
	close(stop)
	<-hurried
	if _, most := api.count(); most != 1 {
		t.Errorf("%d calls in flight at once, want 1", most)
	}
}

// TestConcurrencyCap: a thousand calls across accounts never have more
// than the cap in flight, and every account still answers.
func TestConcurrencyCap(t *testing.T) {
	api := &scriptedAPI{delay: 5 * time.Millisecond}
	var accts []accounts.Account
	for i := range 200 {
		accts = append(accts, accounts.Account{Account: config.Account{Name: "acct-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Timeout: 10 * time.Second}, API: api})
	}
	exp := New(accts, Options{MaxConcurrentCalls: 4})
	mfs := gather(t, exp)
	calls, most := api.count()
	if calls != 200 || most > 4 {
		t.Errorf("%d calls, %d in flight at most; want 200 and at most 4", calls, most)
	}
	if n := len(mfs["sunor_api_up"].GetMetric()); n != 200 {
		t.Fatalf("%d accounts in the scrape, want 200", n)
	}
	for _, m := range mfs["sunor_api_up"].GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			t.Fatalf("an account queued behind the cap failed: %v", m)
		}
	}
}

// TestQueuedPastDeadline: a call still queued behind the cap when its
// scrape's deadline passes is no failure of the API: the scrape shows up 0
// (there is nothing to reuse) with no error and no request counted. The
// call is not dropped: it is made when the slot frees, and its answer is
// the next scrape's.
func TestQueuedPastDeadline(t *testing.T) {
	slow := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 1)}
	queued := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 1)}
	close(queued.block)
	exp := New([]accounts.Account{
		{Account: config.Account{Name: "slow", Timeout: 10 * time.Second}, API: slow},
		{Account: config.Account{Name: "queued", Timeout: 100 * time.Millisecond}, API: queued},
	}, Options{MaxConcurrentCalls: 1})
	holder, _ := exp.Probe(context.Background(), "slow")
	go collectOnce(holder) // slow holds the only slot
	<-slow.called
	c, _ := exp.Probe(context.Background(), "queued")
	mfs := gather(t, c)
	labels := map[string]string{"account": "queued", "endpoint": "balance"}
	if up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "queued"}); up != 0 {
		t.Errorf("queued past its deadline with nothing to reuse: up = %v, want 0", up)
	}
	for _, r := range sunor.Reasons {
		if got := errorsFor(mfs, "balance", string(r)); got != 0 {
			t.Errorf("a call not made yet counted as failed: %s = %v", r, got)
		}
	}
	if got := mustValue(t, mfs, "sunor_api_requests_total", labels); got != 0 {
		t.Errorf("requests = %v for a call not made yet, want 0", got)
	}
	close(slow.block)
	select {
	case <-queued.called:
	case <-time.After(10 * time.Second):
		t.Fatal("the queued call was never made once the slot freed")
	}
	if up := mustValue(t, gather(t, c), "sunor_api_up", map[string]string{"account": "queued"}); up != 1 {
		t.Errorf("after the queued call: up = %v, want 1", up)
	}
}

// TestProbeAndMetricsShareTheCall: /probe and /metrics of one account share
// the call in flight.
func TestProbeAndMetricsShareTheCall(t *testing.T) {
	api := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 2)}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 10 * time.Second}, API: api}}, Options{})
	var joined sync.WaitGroup
	joined.Add(2)
	done := make(chan float64, 2)
	go func() {
		c, _ := exp.Probe(&joinCtx{Context: context.Background(), joined: joined.Done}, "prod")
		mfs, _ := collectOnce(c)
		v, _ := value(mfs, "sunor_api_up", nil)
		done <- v
	}()
	go func() {
		mfs, _ := collectOnce(exp.WithContext(&joinCtx{Context: context.Background(), joined: joined.Done}))
		v, _ := value(mfs, "sunor_api_up", nil)
		done <- v
	}()
	joined.Wait()
	close(api.block)
	for range 2 {
		if v := <-done; v != 1 {
			t.Errorf("up = %v, want 1", v)
		}
	}
	if n := len(api.called); n != 1 {
		t.Errorf("%d calls for a probe and a scrape of one account at once, want 1", n)
	}
}

// healthy answers every call with a balance and a budget to spare.
func healthy(int) ([]float64, sunor.RateLimit, error) {
	return []float64{1, 1, 2}, sunor.RateLimit{Remaining: 100, HasRemaining: true}, nil
}

// scrapeFor scrapes exp every interval for d on clk, and returns the most
// seconds any scrape's balance was old (from
// sunor_last_success_timestamp_seconds), counting from the second minute,
// and in how many scrapes usage answered.
func scrapeFor(t *testing.T, exp *Exporter, clk *clock, interval, d time.Duration) (oldest float64, withUsage int) {
	t.Helper()
	start := clk.Now()
	for clk.Now().Sub(start) < d {
		mfs := gather(t, exp)
		if clk.Now().Sub(start) >= time.Minute {
			for _, m := range mfs["sunor_api_up"].GetMetric() {
				if m.GetGauge().GetValue() != 1 {
					t.Fatalf("at %s: a balance is down on a healthy API", clk.Now().Sub(start))
				}
			}
			for _, m := range mfs["sunor_last_success_timestamp_seconds"].GetMetric() {
				age := float64(clk.Now().UnixNano())/1e9 - m.GetGauge().GetValue()
				oldest = max(oldest, age)
			}
			if _, ok := mfs["sunor_credits_used_total"]; ok {
				withUsage++
			}
		}
		clk.Advance(interval)
	}
	return oldest, withUsage
}

// TestAtMostNInAnyMinute: "12 a minute" holds in any 60 s window, whatever
// the scrape rhythm: the guard keeps the last N calls' times.
func TestAtMostNInAnyMinute(t *testing.T) {
	for _, interval := range []time.Duration{100 * time.Millisecond, time.Second, 4 * time.Second, 5 * time.Second, 7 * time.Second} {
		clk := newClock()
		api := &scriptedAPI{answer: healthy, clock: clk}
		exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api}},
			Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
		scrapeFor(t, exp, clk, interval, 10*time.Minute)
		// The last slot waits for a balance half a minute old, which
		// some rhythms never have.
		if most := api.mostInWindow(); most < 11 || most > 12 {
			t.Errorf("scrapes every %s: %d calls in some 60 s, want 11 or 12 (the ceiling, nearly reached)", interval, most)
		}
	}
}

// TestBalanceNeverStarves: with the default ceiling and usage on, however
// fast the scrapes come, a healthy API keeps the balance at most 60 s old;
// usage gets what is left, and still answers.
func TestBalanceNeverStarves(t *testing.T) {
	for _, interval := range []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second /* three Prometheus servers at 15 s */} {
		clk := newClock()
		api := &scriptedAPI{answer: healthy, clock: clk}
		exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api}},
			Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
		oldest, withUsage := scrapeFor(t, exp, clk, interval, 10*time.Minute)
		// The promise is 60 s; the design keeps it to half a Window and
		// a scrape interval.
		if bound := (Window/2 + interval).Seconds(); oldest > bound {
			t.Errorf("scrapes every %s: the balance was %.1f s old, want at most %.0f (60 promised)", interval, oldest, bound)
		}
		if api.endpoints["usage"] == 0 || withUsage == 0 {
			t.Errorf("scrapes every %s: usage was called %d times and shown in %d scrapes; it should get what the balance leaves", interval, api.endpoints["usage"], withUsage)
		}
		if most := api.mostInWindow(); most > 12 {
			t.Errorf("scrapes every %s: %d calls in some 60 s, want at most 12", interval, most)
		}
	}
}

// TestKeySharedByAccounts: accounts with the same KeyID share one guard:
// the ceiling over all of them, a 429's back-off, and each balance its
// slot before usage; a reload that changes an account but keeps the key
// keeps the back-off.
func TestKeySharedByAccounts(t *testing.T) {
	clk := newClock()
	api := &scriptedAPI{answer: healthy, clock: clk}
	acct := func(name, identity string) accounts.Account {
		return accounts.Account{Account: config.Account{Name: name, Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}, API: api, KeyID: "k1", Identity: identity}
	}
	exp := New([]accounts.Account{acct("a", "a1"), acct("b", "b1"), acct("c", "c1")}, Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
	oldest, _ := scrapeFor(t, exp, clk, time.Second, 5*time.Minute)
	if most := api.mostInWindow(); most != 12 {
		t.Errorf("three accounts of one key: %d calls in some 60 s, want 12 (one ceiling for the key)", most)
	}
	if oldest > 60 {
		t.Errorf("three accounts of one key: a balance was %.0f s old, want at most 60", oldest)
	}

	// A 429 on one account stops the others of the key, and survives a
	// reload that changes an account's identity but not its key.
	api.answer = func(int) ([]float64, sunor.RateLimit, error) {
		return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonRateLimited, StatusCode: 429, RetryAfter: 10 * time.Minute}
	}
	clk.Advance(time.Minute) // the window is empty again
	c, _ := exp.Probe(context.Background(), "a")
	gather(t, c)
	calls, _ := api.count()
	exp.SetAccounts([]accounts.Account{acct("a", "a2"), acct("b", "b1"), acct("c", "c1")})
	api.answer = healthy
	clk.Advance(time.Minute)
	mfs := gather(t, exp)
	if after, _ := api.count(); after != calls {
		t.Errorf("%d calls during the key's back-off, after a reload; want none", after-calls)
	}
	for _, name := range []string{"a", "b", "c"} {
		if v, _ := value(mfs, "sunor_api_calls_skipped_total", map[string]string{"account": name, "endpoint": "balance", "reason": "backoff"}); v == 0 {
			t.Errorf("account %s of the key made no skip for the back-off", name)
		}
	}
	// Another key has a guard of its own.
	other := &scriptedAPI{answer: healthy}
	exp.SetAccounts([]accounts.Account{acct("a", "a2"), {Account: config.Account{Name: "d", Timeout: time.Second, MaxCallsPerMinute: 12}, API: other, KeyID: "k2"}})
	if v := mustValue(t, gather(t, exp), "sunor_api_up", map[string]string{"account": "d"}); v != 1 {
		t.Errorf("an account of another key: up %v, want 1 (not in the first key's back-off)", v)
	}
}

// TestServedWhileQueued: an account whose refresh waits behind the cap on
// calls shows its last good answer at once while it is at most MaxStale
// old and the latest call did not fail; older, or after a failure, the
// scrape waits for the refresh, and shows up 0 if it does not come.
func TestServedWhileQueued(t *testing.T) {
	clk := newClock()
	slow := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 1)}
	defer close(slow.block)
	fresh := &scriptedAPI{answer: healthy}
	failing := &scriptedAPI{answer: func(n int) ([]float64, sunor.RateLimit, error) {
		if n > 1 {
			return serverError(n)
		}
		return healthy(n)
	}}
	exp := New([]accounts.Account{
		{Account: config.Account{Name: "slow", Timeout: time.Hour}, API: slow},
		{Account: config.Account{Name: "fresh", Timeout: time.Second}, API: fresh},
		{Account: config.Account{Name: "failing", Timeout: time.Second}, API: failing},
	}, Options{MaxConcurrentCalls: 1, Now: clk.Now})
	scrape := func(name string) (up float64, took time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c, _ := exp.Probe(ctx, name)
		start := time.Now()
		mfs := gather(t, c)
		return mustValue(t, mfs, "sunor_api_up", nil), time.Since(start)
	}
	// Good answers while the slot is free; then failing's call fails.
	// These wait for their calls, however loaded the machine.
	for _, name := range []string{"fresh", "failing"} {
		c, _ := exp.Probe(context.Background(), name)
		gather(t, c)
	}
	clk.Advance(time.Second)
	c, _ := exp.Probe(context.Background(), "failing")
	if up := mustValue(t, gather(t, c), "sunor_api_up", nil); up != 0 {
		t.Fatalf("a failed call: up %v, want 0", up)
	}
	s, _ := exp.Probe(context.Background(), "slow")
	go collectOnce(s)
	<-slow.called // slow holds the only slot from now on

	clk.Advance(MaxStale - time.Second)
	if up, took := scrape("fresh"); up != 1 || took >= 300*time.Millisecond {
		t.Errorf("queued, answer %s old: up %v after %s; want 1 at once", MaxStale, up, took)
	}
	if up, took := scrape("failing"); up != 0 || took < 300*time.Millisecond {
		t.Errorf("queued after a failed call: up %v after %s; want 0 after waiting for the refresh until the deadline", up, took)
	}
	clk.Advance(time.Second)
	if up, _ := scrape("fresh"); up != 0 {
		t.Errorf("queued, answer older than %s: up %v, want 0", MaxStale, up)
	}
	if n, _ := fresh.count(); n != 1 {
		t.Errorf("fresh: %d calls, want 1: the refresh is still queued", n)
	}
}

// TestUsageLeavesTheBalancesTheirSlots: an optional endpoint never takes
// the last slots of the window, one per account whose balance the key
// reads, even when the balance's own call is still in flight and asks
// later; a balance takes them only once its answer is half a minute old.
func TestUsageLeavesTheBalancesTheirSlots(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := new(guard)
	g.configure(12, 10, 2)
	for i := range 10 {
		s, reason, _ := g.allow(now.Add(time.Duration(i)*time.Second), false, 0)
		if reason != "" {
			t.Fatalf("call %d: %s, want allowed (10 of 12 slots, 2 left)", i+1, reason)
		}
		g.start(s, now.Add(time.Duration(i)*time.Second))
	}
	now = now.Add(10 * time.Second)
	if _, reason, until := g.allow(now, false, 0); reason != skipBudget || !until.Equal(now.Add(50*time.Second+windowSlack)) {
		t.Errorf("usage with two slots left for two balances: %q until %s, want budget until the oldest call leaves the window", reason, until)
	}
	if _, reason, _ := g.allow(now, true, Window/2-time.Second); reason != skipBudget {
		t.Errorf("a balance just refreshed, with two slots left for two balances: %q, want budget", reason)
	}
	for i := range 2 {
		if _, reason, _ := g.allow(now, true, Window/2); reason != "" {
			t.Errorf("balance %d, half a minute old: %s, want allowed", i+1, reason)
		}
	}
	if _, reason, _ := g.allow(now, true, time.Hour); reason != skipBudget {
		t.Errorf("a 13th call in the minute: %q, want budget", reason)
	}
	// A call that waited and was never made gives its slot back.
	g.configure(1, 10, 1)
	g.calls = nil
	s, _, _ := g.allow(now, true, 0)
	g.release(s)
	if _, reason, _ := g.allow(now, true, 0); reason != "" {
		t.Errorf("after a release: %q, want allowed", reason)
	}
}

// TestPoolBalanceFirst: calls beyond the cap wait, without a goroutine
// each, and a queued balance call runs before queued optional ones.
func TestPoolBalanceFirst(t *testing.T) {
	p := &pool{size: 1, now: time.Now}
	release := make(chan struct{})
	order := make(chan string, 3)
	if !p.submit(true, func(bool) { <-release; order <- "first" }) {
		t.Fatal("the first call did not start though the pool was empty")
	}
	if p.submit(false, func(queued bool) { order <- "usage" }) || p.submit(true, func(queued bool) { order <- "balance" }) {
		t.Fatal("a call started beyond the cap")
	}
	close(release)
	for _, want := range []string{"first", "balance", "usage"} {
		select {
		case got := <-order:
			if got != want {
				t.Errorf("ran %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never ran", want)
		}
	}
}

// apiFunc answers each call from a function of the endpoint.
type apiFunc func(ep sunor.Endpoint) ([]float64, sunor.RateLimit, error)

func (f apiFunc) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	return f(ep)
}

// TestOptionalNeverHoldsTheScrape: a queued usage call with no answer to
// stand in does not hold the scrape; the balance's last answer shows at
// once, usage is absent.
func TestOptionalNeverHoldsTheScrape(t *testing.T) {
	slow := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 2)}
	defer close(slow.block)
	api := apiFunc(func(ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
		if ep.Name == "usage" {
			return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "usage", Reason: sunor.ReasonServerError, StatusCode: 500}
		}
		return healthy(0)
	})
	exp := New([]accounts.Account{
		{Account: config.Account{Name: "slow", Timeout: time.Hour}, API: slow},
		{Account: config.Account{Name: "u", Timeout: time.Second}, API: api},
	}, Options{MaxConcurrentCalls: 1, Scrapers: []Scraper{Usage}})
	u, _ := exp.Probe(context.Background(), "u")
	gather(t, u) // a balance; usage failed
	s, _ := exp.Probe(context.Background(), "slow")
	go collectOnce(s)
	<-slow.called // slow holds the only slot from now on

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	u, _ = exp.Probe(ctx, "u")
	start := time.Now()
	mfs := gather(t, u)
	if took := time.Since(start); took >= 300*time.Millisecond {
		t.Errorf("the scrape took %s: it waited for a queued usage call", took)
	}
	if v := mustValue(t, mfs, "sunor_api_up", nil); v != 1 {
		t.Errorf("up = %v, want 1 (the balance's last answer)", v)
	}
	if _, ok := mfs["sunor_credits_used_total"]; ok {
		t.Error("usage shown though it never answered")
	}
}

// keyClock records which key each call sent, on the fake clock, from the
// API's side of the wire: the key in the request, not the one the exporter
// believes it sent.
type keyClock struct {
	clk  *clock
	next http.Handler
	mu   sync.Mutex
	at   map[string][]time.Time
}

func (k *keyClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	key := r.Header.Get("x-api-key")
	k.at[key] = append(k.at[key], k.clk.Now())
	k.mu.Unlock()
	k.next.ServeHTTP(w, r)
}

// busiest returns the key with the most calls in any Window, and how many.
func (k *keyClock) busiest() (key string, most int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, ts := range k.at {
		j := 0
		for i := range ts {
			for ts[i].Sub(ts[j]) >= Window {
				j++
			}
			if i-j+1 > most {
				key, most = name, i-j+1
			}
		}
	}
	return key, most
}

// TestRotatedKeyKeepsTheCeiling: a call is charged to the key it sends,
// whatever the account was built with. A key file rotated to a fresh key,
// then to another account's key, never makes more than the ceiling's calls
// with one key in any 60 s, seen from the API: neither before the reload
// that a key directory's watcher makes on seeing the change, nor after it
// (which must find the calls the new key already made). Before, the calls
// were charged to the key the account was built with: 24 in a minute with
// the other account's key, and 22 with a fresh key after the reload.
func TestRotatedKeyKeepsTheCeiling(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	keys := map[string]string{"a": "key-a-0123456789", "b": "key-b-0123456789"}
	fake := fakesunor.New("")
	for _, k := range []string{keys["a"], keys["b"], "key-a-rotated-0123"} {
		fake.SetAccount(k, fakesunor.Account{Available: 100, CreditsToppedUp: 100})
	}
	rec := &keyClock{clk: clk, next: fake, at: map[string][]time.Time{}}
	srv := testtool.ServeAPI(t, rec)
	write := func(name, key string) {
		t.Helper()
		// An atomic rename, as the docs ask.
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("a", keys["a"])
	write("b", keys["b"])
	cfg := filepath.Join(dir, "sunor.yml")
	yml := fmt.Sprintf("accounts:\n  - {name: a, api_key_file: %s}\n  - {name: b, api_key_file: %s}\n", filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &accounts.Builder{File: cfg, Logger: log.NewNopLogger(),
		Flags: config.Account{URL: srv.URL, Timeout: 5 * time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10, TaskCost: 10}}
	accts, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	exp := New(accts, Options{Now: clk.Now, Scrapers: []Scraper{Usage}})
	reload := func() {
		t.Helper()
		accts, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		exp.SetAccounts(accts)
	}
	// A minute of scrapes every second: both keys fill their window.
	scrapeFor(t, exp, clk, time.Second, 90*time.Second)
	// A fresh key, seen by a reload half a minute later, as a key
	// directory's poll sees it.
	write("a", "key-a-rotated-0123")
	scrapeFor(t, exp, clk, time.Second, 30*time.Second)
	reload()
	scrapeFor(t, exp, clk, time.Second, 90*time.Second)
	// Another account's key: without a reload (a key file named by
	// api_key_file is read on every call), then with one.
	write("a", keys["b"])
	scrapeFor(t, exp, clk, time.Second, 90*time.Second)
	reload()
	scrapeFor(t, exp, clk, time.Second, 90*time.Second)
	if key, most := rec.busiest(); most > 12 {
		t.Errorf("key %q: %d calls in some 60 s, want at most 12 (the ceiling), rotations included", key, most)
	}
	if len(rec.at["key-a-rotated-0123"]) == 0 {
		t.Error("the rotated key was never sent")
	}
}

// TestRotationOutOfABackoff: a key paused by a 429 (the product's own
// traffic used the window up, say) makes no call until its Retry-After;
// the user rotates the key file to a fresh key to get out of it. The next
// scrape calls with the fresh key, instead of showing the old answer, then
// sunor_api_up 0, until the old key's pause ends (up to 15 minutes).
func TestRotationOutOfABackoff(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	fake := fakesunor.New("")
	fake.RetryAfter = "600"
	fake.SetAccount("key-paused-0123456789", fakesunor.Account{Available: 100, Fail: fakesunor.FailRateLimited})
	fake.SetAccount("key-fresh-0123456789", fakesunor.Account{Available: 700})
	rec := &keyClock{clk: clk, next: fake, at: map[string][]time.Time{}}
	srv := testtool.ServeAPI(t, rec)
	keyFile := filepath.Join(dir, "key")
	write := func(key string) {
		t.Helper()
		tmp := keyFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, keyFile); err != nil {
			t.Fatal(err)
		}
	}
	write("key-paused-0123456789")
	b := &accounts.Builder{Logger: log.NewNopLogger(),
		Flags: config.Account{Name: "a", APIKeyFile: keyFile, URL: srv.URL, Timeout: 5 * time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10, TaskCost: 10}}
	accts, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	exp := New(accts, Options{Now: clk.Now})
	gather(t, exp) // the 429: paused for 600 s
	clk.Advance(time.Second)
	gather(t, exp)
	if n := len(rec.at["key-paused-0123456789"]); n != 1 {
		t.Fatalf("the paused key was called %d times, want 1 (the 429)", n)
	}
	write("key-fresh-0123456789")
	clk.Advance(time.Second)
	mfs := gather(t, exp)
	if n := len(rec.at["key-fresh-0123456789"]); n != 1 {
		t.Errorf("the fresh key was called %d times at the scrape after the rotation, want 1", n)
	}
	if up := mfs["sunor_api_up"].GetMetric(); len(up) != 1 || up[0].GetGauge().GetValue() != 1 {
		t.Errorf("sunor_api_up %v after rotating out of the back-off, want 1", up)
	}
	if got := mfs["sunor_credits_available"].GetMetric(); len(got) != 1 || got[0].GetGauge().GetValue() != 700 {
		t.Errorf("sunor_credits_available %v, want the fresh key's 700", got)
	}
	if n := len(rec.at["key-paused-0123456789"]); n != 1 {
		t.Errorf("the paused key was called %d times, want still 1", n)
	}
}

// rotatingAccounts are n accounts, each with a key of its own whose id
// ends in *round: raising it rotates every key at once.
func rotatingAccounts(n int, round *atomic.Int64) []accounts.Account {
	accts := make([]accounts.Account, n)
	for i := range accts {
		id := fmt.Sprint("key-", i)
		accts[i] = accounts.Account{Account: config.Account{Name: fmt.Sprint("acct-", i), Timeout: time.Second, MaxCallsPerMinute: 12},
			KeyID: id + "-0", Identity: id, API: answeringAPI{},
			Keys: func(context.Context) (string, string) { return "", fmt.Sprint(id, "-", round.Load()) }}
	}
	return accts
}

// BenchmarkRotateEveryKey: every account of n reads a key other than the
// one it was built with (a key directory rewritten with new keys), as the
// first call of each after the rotation does: the exporter moves each to
// its new key's guard. It reports the time for all n.
//
//	go test -run '^$' -bench RotateEveryKey -benchtime 3x ./collector
func BenchmarkRotateEveryKey(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			var round atomic.Int64
			exp := New(rotatingAccounts(n, &round), Options{})
			callers := make([]*caller, 0, n)
			for _, a := range exp.snapshot() {
				callers = append(callers, &a.caller)
			}
			for b.Loop() {
				round.Add(1)
				for _, c := range callers {
					c.keyGuard()
				}
			}
		})
	}
}

// TestRotatedAwayGuardsAreForgotten: a key rotated away from keeps its
// guard while it holds calls (a key rotated back finds its window), and
// is forgotten once idle: after ten rotations of 100 accounts' keys, two
// minutes apart, the exporter keeps at most twice the guards of its last
// sweep (those in use and those rotated away from within the minute) and
// 64, not one per key ever seen (1100).
func TestRotatedAwayGuardsAreForgotten(t *testing.T) {
	clk := newClock()
	const n = 100
	var round atomic.Int64
	exp := New(rotatingAccounts(n, &round), Options{Now: clk.Now})
	for range 10 {
		for _, a := range exp.snapshot() {
			// Each key has a call in its window when it is rotated away.
			g := a.guard.Load()
			g.mu.Lock()
			g.calls = append(g.calls, &slot{at: clk.Now()})
			g.mu.Unlock()
		}
		round.Add(1)
		for _, a := range exp.snapshot() {
			if _, g, _ := a.keyGuard(); !strings.HasSuffix(g.id, fmt.Sprint("-", round.Load())) {
				t.Fatalf("%s calls with the guard of %s after the rotation", a.name, g.id)
			}
		}
		clk.Advance(2 * time.Minute)
	}
	exp.mu.Lock()
	kept := len(exp.guards)
	exp.mu.Unlock()
	if kept > 2*(n+n)+64 {
		t.Errorf("%d guards kept for %d accounts after 10 rotations, want at most %d (the idle ones forgotten)", kept, n, 2*(n+n)+64)
	}
}
