package collector

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testtool"
)

// scriptedAPI answers from a function of the call's number, after delay,
// and counts calls and how many were in flight at once.
type scriptedAPI struct {
	answer func(n int) ([]float64, sunor.RateLimit, error)
	delay  time.Duration

	mu                    sync.Mutex
	calls                 int
	inFlight, maxInFlight int
}

func (s *scriptedAPI) Fetch(ctx context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
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
	g.exp = New([]accounts.Account{{Name: "prod", API: api, Timeout: 5 * time.Second, MaxCallsPerMinute: perMinute, RateLimitReserve: reserve}},
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
		// A burst of 12, then one per 5 s: 14 in 10 s.
		if calls > 14 || calls < 12 {
			t.Errorf("failing=%v: %d calls for 100 scrapes in 10 s, want 12 to 14 (the ceiling)", failing, calls)
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
	exp := New([]accounts.Account{{Name: "prod", API: api, Timeout: time.Second, MaxCallsPerMinute: 12, RateLimitReserve: 10}},
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
// until the window resets: at X-RateLimit-Reset when sent, else a minute
// after that answer. Remaining alone is enough.
func TestReserve(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reset     time.Duration // from the answer; 0: no header
		remaining float64
		resumeIn  time.Duration
	}{
		{"with reset", 20 * time.Second, 10, 20 * time.Second},
		{"remaining alone", 0, 3, time.Minute},
		{"implausible reset", 2 * time.Hour, 0, time.Minute},
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
			g.exp = New([]accounts.Account{{Name: "prod", API: api, Timeout: time.Second, RateLimitReserve: 10}}, Options{Now: clk.Now, Logger: log.NewLogfmtLogger(g.log)})
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
// timeout already counted in its own output.
func TestTimeoutCountedInItsOwnScrape(t *testing.T) {
	for i := range 5 {
		api := &blockingAPI{block: make(chan struct{})}
		exp := New([]accounts.Account{{Name: "prod", API: api, Timeout: 10 * time.Second}}, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
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
	exp := New([]accounts.Account{{Name: "prod", API: api, Timeout: 5 * time.Second}}, Options{})
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
		accts = append(accts, accounts.Account{Name: "acct-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), API: api, Timeout: 10 * time.Second})
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

// TestQueuedPastDeadline: a call still queued behind the cap at its
// deadline is a timeout, and no request is counted for it.
func TestQueuedPastDeadline(t *testing.T) {
	slow := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 1)}
	defer close(slow.block)
	queued := &scriptedAPI{}
	exp := New([]accounts.Account{
		{Name: "slow", API: slow, Timeout: 10 * time.Second},
		{Name: "queued", API: queued, Timeout: 100 * time.Millisecond},
	}, Options{MaxConcurrentCalls: 1})
	holder, _ := exp.Probe(context.Background(), "slow")
	go collectOnce(holder) // slow holds the only slot
	<-slow.called
	c, _ := exp.Probe(context.Background(), "queued")
	mfs := gather(t, c)
	if got := mustValue(t, mfs, "sunor_api_errors_total", map[string]string{"account": "queued", "endpoint": "balance", "reason": "timeout"}); got != 1 {
		t.Errorf("queued past its deadline: timeout = %v, want 1", got)
	}
	if got := mustValue(t, mfs, "sunor_api_requests_total", map[string]string{"account": "queued"}); got != 0 {
		t.Errorf("requests = %v for a call never made, want 0", got)
	}
}

// TestProbeAndMetricsShareTheCall: /probe and /metrics of one account share
// the call in flight.
func TestProbeAndMetricsShareTheCall(t *testing.T) {
	api := &blockingAPI{block: make(chan struct{}), called: make(chan struct{}, 2)}
	exp := New([]accounts.Account{{Name: "prod", API: api, Timeout: 10 * time.Second}}, Options{})
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
