//go:build e2e

package deploy

// The chaos test (issue 9): Debian's prometheus scrapes the exporter every
// 250 ms for half a minute while the fake Sunor API answers each call with
// the next card of a shuffled deck: a good answer with random fractional
// values, one that says the key's window is nearly spent, or one of every
// failure mode (fakesunor.Chaos). The exporter runs with its default budget
// (12 calls a minute per key, reserve 10), so most scrapes are answered
// with the last good answer, reused without a call. Then every sample
// Prometheus stored is checked against what the fake served, and the
// fake's record of calls against the budget. Run it with `make chaos`;
// CHAOS_SEED=n deals the same cards again.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

const (
	chaosInterval = 250 * time.Millisecond
	// chaosTimeout is the scrape timeout: the whole interval, as on a busy
	// machine scheduling alone can hold up a scrape that makes no call for
	// much of it.
	chaosTimeout = 250 * time.Millisecond
	// chaosOffset is --sunor.timeout-offset: API calls get the 50 ms left
	// of the scrape timeout (the fake answers in about 1 ms), so a hanging
	// API makes a scrape with sunor_api_up 0, not a failed scrape.
	chaosOffset   = 200 * time.Millisecond
	chaosScrapes  = 120 // half a minute
	chaosAccounts = 4   // each with its own key and budget: more calls, so every failure mode is met
	// chaosBudget is the exporter's default --sunor.max-calls-per-minute:
	// the most calls with one key in any 60 s.
	chaosBudget = 12
	// stampSlack covers how Prometheus stamps a sample: with the scrape's
	// start, moved back by up to 2 ms to align with the interval, and cut to
	// whole milliseconds.
	stampSlack = 5 * time.Millisecond
)

// chaosClient asks the exporter and Prometheus, with a deadline.
var chaosClient = &http.Client{Timeout: 10 * time.Second}

// sample is one stored sample: Unix milliseconds and value.
type sample struct {
	ms int64
	v  float64
}

// rawSamples returns every stored sample of the range-vector query q (such
// as `up[5m]`) evaluated at at, by series labels.
func rawSamples(p promClient, q string, at time.Time) ([]map[string]string, [][]sample, error) {
	resp, err := chaosClient.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q) + "&time=" + strconv.FormatFloat(float64(at.UnixMilli())/1e3, 'f', 3, 64))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, nil, err
	}
	if body.Status != "success" || body.Data.ResultType != "matrix" {
		return nil, nil, fmt.Errorf("query %q: %s %s: %s", q, body.Status, body.Data.ResultType, body.Error)
	}
	var labels []map[string]string
	var samples [][]sample
	for _, r := range body.Data.Result {
		var ss []sample
		for _, pair := range r.Values {
			ts, _ := pair[0].(float64)
			vs, _ := pair[1].(string)
			// Prometheus writes values with as many digits as a float64
			// needs to read back the same.
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("query %q: value %q: %v", q, vs, err)
			}
			ss = append(ss, sample{int64(math.Round(ts * 1e3)), v})
		}
		labels = append(labels, r.Metric)
		samples = append(samples, ss)
	}
	return labels, samples, nil
}

// chaosSeed is CHAOS_SEED when set, to replay a failure, else a new one.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// answers are what one scrape showed of one endpoint's series, by the
// sample's timestamp: the values in the API's field order, NaN where a
// series had no sample at that time.
type answers map[int64][]float64

func (a answers) add(ms int64, field int, v float64) {
	if a[ms] == nil {
		a[ms] = []float64{math.NaN(), math.NaN(), math.NaN()}
	}
	a[ms][field] = v
}

// judge says whether the values a scrape stamped at ms showed are an answer
// the fake served in time, given good, the fake's good answers to this key
// and endpoint in the order served, and whether the exporter received each.
// The answer must reach the fake before the scrape's timeout, and be no
// older than the latest good answer the exporter received before the
// scrape began: Prometheus scrapes one target once at a time and the
// exporter ends every call of a scrape before answering it, so it had that
// answer when the scrape began. It may reuse an answer for at most
// collector.MaxStale (counted from when the call ended). It returns
// whether the answer was served before the scrape began (reused).
func judge(good []fakesunor.Served, received []bool, ms int64, v []float64) (reused bool, err error) {
	start := time.UnixMilli(ms)
	lo, hi := start.Add(-collector.MaxStale-chaosTimeout), start.Add(chaosTimeout+stampSlack)
	latest := -1
	for i, s := range good {
		if s.At.Before(start) && received[i] {
			latest = i
		}
	}
	if latest >= 0 && good[latest].At.After(lo) {
		lo = good[latest].At
	}
	for i := len(good) - 1; i >= 0; i-- {
		s := good[i]
		if !s.At.Before(lo) && !s.At.After(hi) && slices.Equal(s.Values, v) {
			return s.At.Before(start), nil
		}
	}
	why := "never served"
	for _, s := range good {
		if slices.Equal(s.Values, v) {
			why = fmt.Sprintf("served at %s, outside [%s, %s]", s.At.Format("15:04:05.000"), lo.Format("15:04:05.000"), hi.Format("15:04:05.000"))
		}
	}
	latestV := "none"
	if latest >= 0 {
		latestV = fmt.Sprintf("%v at %s", good[latest].Values, good[latest].At.Format("15:04:05.000"))
	}
	return false, fmt.Errorf("%v (%s); the latest good answer the exporter received before the scrape: %s", v, why, latestV)
}

// received says, for each good answer, whether the exporter received it:
// whether the scrape during which it was served (the latest to start
// before) showed an answer. A scrape that showed none had its call end at
// its deadline, before the answer was read; the exporter then keeps the
// answer it had.
func received(good []fakesunor.Served, scrapes []sample, success map[int64]float64) []bool {
	r := make([]bool, len(good))
	for i, s := range good {
		k := sort.Search(len(scrapes), func(j int) bool { return time.UnixMilli(scrapes[j].ms).After(s.At) }) - 1
		r[i] = k >= 0 && success[scrapes[k].ms] == 1
	}
	return r
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// budgetExceeded checks that no 60 s hold more calls than the ceiling: the
// guard keeps at most that many in any collector.Window. The guard dates a
// call when it starts; it reaches the fake a moment later, and two calls
// a Window apart may arrive a little closer, hence the slack.
func budgetExceeded(times []time.Time) error {
	const slack = 50 * time.Millisecond
	for i := range times {
		for j := i; j < len(times) && times[j].Sub(times[i]) < collector.Window-slack; j++ {
			if n := j - i + 1; n > chaosBudget {
				return fmt.Errorf("%d calls from %s to %s, more than the ceiling of %d in any 60 s", n,
					times[i].Format("15:04:05.000"), times[j].Format("15:04:05.000"), chaosBudget)
			}
		}
	}
	return nil
}

func TestChaos(t *testing.T) {
	prometheus := tool(t, "prometheus", "prometheus")
	dir := t.TempDir()

	exporterBin := testtool.ExporterBinary(t)

	seed := chaosSeed(t)
	t.Logf("seed %d: CHAOS_SEED=%d make chaos deals the same cards", seed, seed)
	fake := fakesunor.New("")
	// A 429's default Retry-After (30 s) would silence an account for the
	// whole test; the back-off itself is still exercised.
	fake.RetryAfter = "1"
	fake.RedirectTo = "http://127.0.0.1:1/elsewhere"
	// The low-remaining card says when the window resets: the reserve
	// pause it checks ends at X-RateLimit-Reset, an older API's header.
	fake.LimitHeaders = true
	keys := map[string]string{} // by account name
	var cfg, env strings.Builder
	cfg.WriteString("accounts:\n")
	for i := 1; i <= chaosAccounts; i++ {
		name, key := fmt.Sprintf("chaos%d", i), fmt.Sprintf("chaos-key-%d-5e1d9a", i)
		keys[name] = key
		fake.SetAccount(key, fakesunor.Account{})
		fmt.Fprintf(&cfg, "  - name: %s\n    api_key_env: CHAOS_KEY_%d\n", name, i)
		fmt.Fprintf(&env, "CHAOS_KEY_%d=%s\n", i, key)
	}
	fake.Chaos(seed)
	fakeSrv := testtool.ServeAPI(t, fake)

	// The exporter with its default budget flags.
	writeFile(t, filepath.Join(dir, "sunor.yml"), cfg.String())
	exporterAddr := freeAddr(t)
	exporterProc := proc(t, "exporter", append(strings.Fields(env.String()), "SUNOR_API_KEY=", "SUNOR_API_KEY_FILE="), exporterBin,
		"--config.file="+filepath.Join(dir, "sunor.yml"), "--sunor.url="+fakeSrv.URL,
		"--web.listen-address="+exporterAddr, "--sunor.timeout-offset="+chaosOffset.String())
	// Prometheus starts once the exporter listens: a refused connection
	// would be a failed scrape.
	waitReady(t, "the exporter", "http://"+exporterAddr+"/-/ready")

	promAddr := freeAddr(t)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`
global:
  scrape_interval: %s
  scrape_timeout: %s
scrape_configs:
  - job_name: chaos
    static_configs: [{targets: [%q]}]
`, chaosInterval, chaosTimeout, exporterAddr))
	prometheusProc := proc(t, "prometheus", nil, prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=debug") // debug: the reason of a failed scrape
	prom := promClient{"http://" + promAddr}

	poll(t, fmt.Sprintf("Prometheus stores %d scrapes", chaosScrapes), 90*time.Second, func() error {
		return prom.expect(fmt.Sprintf(`count_over_time(up{job="chaos"}[5m]) >= %d`, chaosScrapes))
	})
	end := time.Now()
	// Scrapes run one at a time: once one started after end is stored,
	// every scrape up to end is.
	poll(t, "a scrape after the end is stored", 30*time.Second, func() error {
		return prom.expect(fmt.Sprintf(`timestamp(up{job="chaos"}) > %.3f`, float64(end.UnixMilli())/1e3))
	})
	served := fake.Served()

	get := func(q string) ([]map[string]string, [][]sample) {
		t.Helper()
		l, s, err := rawSamples(prom, q+"[5m]", end)
		if err != nil {
			t.Fatal(err)
		}
		return l, s
	}

	// Zero failed scrapes.
	_, ups := get(`up{job="chaos"}`)
	if len(ups) != 1 {
		t.Fatalf("up{job=\"chaos\"}: %d series, want 1", len(ups))
	}
	scrapes := ups[0]
	failed := 0
	for _, s := range scrapes {
		if s.v != 1 {
			failed++
			t.Errorf("the scrape at %s failed (up %v)", time.UnixMilli(s.ms).Format("15:04:05.000"), s.v)
		}
	}
	_, durations := get(`scrape_duration_seconds{job="chaos"}`)
	longest := 0.0
	for _, ss := range durations {
		for _, s := range ss {
			longest = max(longest, s.v)
		}
	}
	t.Logf("%d scrapes from %s to %s, %d failed; the longest took %.0f ms", len(scrapes),
		time.UnixMilli(scrapes[0].ms).Format("15:04:05.000"), time.UnixMilli(scrapes[len(scrapes)-1].ms).Format("15:04:05.000"), failed, longest*1e3)
	if failed > 0 {
		for _, line := range strings.Split(prometheusProc.Out.String(), "\n") {
			if strings.Contains(line, "Scrape failed") {
				t.Log(line)
			}
		}
	}

	// What every scrape showed, by account: sunor_api_up and
	// sunor_scrape_collector_success for the usage endpoint, and the values
	// of each endpoint's series.
	byAccount := func(q string) map[string]map[int64]float64 {
		labels, series := get(q)
		m := map[string]map[int64]float64{}
		for i, l := range labels {
			m[l["account"]] = map[int64]float64{}
			for _, s := range series[i] {
				m[l["account"]][s.ms] = s.v
			}
		}
		return m
	}
	up := byAccount("sunor_api_up")
	usageUp := byAccount(`sunor_scrape_collector_success{collector="usage"}`)
	shown := map[string]map[string]answers{} // by account and endpoint
	fields := map[string]struct {
		endpoint string
		field    int
	}{
		"sunor_credits_available": {"balance", 0}, "sunor_credits_frozen": {"balance", 1}, "sunor_credits_total": {"balance", 2},
		"sunor_tasks_created_total": {"usage", 0}, "sunor_credits_used_total": {"usage", 1}, "sunor_credits_topped_up_total": {"usage", 2},
	}
	// The policy gauges (threshold, daily budget, task cost) are settings, not answers.
	labels, series := get(`{__name__=~"sunor_credits_.*|sunor_tasks_created_total",__name__!~"sunor_credits_low_threshold|sunor_credits_daily_budget|sunor_credits_task_cost"}`)
	for i, l := range labels {
		f, ok := fields[l["__name__"]]
		if !ok {
			t.Errorf("a sunor_credits_* series this test does not know: %v", l)
			continue
		}
		if shown[l["account"]] == nil {
			shown[l["account"]] = map[string]answers{"balance": {}, "usage": {}}
		}
		for _, s := range series[i] {
			shown[l["account"]][f.endpoint].add(s.ms, f.field, s.v)
		}
	}

	// Every sample against what the fake served, and the series present
	// exactly when sunor_api_up (balance) or the usage collector's success
	// is 1.
	good := map[string][]fakesunor.Served{} // by key and endpoint
	for _, s := range served {
		if s.Fail == fakesunor.FailNone {
			good[s.Key+" "+s.Endpoint] = append(good[s.Key+" "+s.Endpoint], s)
		}
	}
	// A wrong answer comes back scrape after scrape while it is reused: the
	// first few of each account and endpoint tell the story.
	wrong := map[string]int{}
	bad := func(where, format string, args ...any) {
		t.Helper()
		if wrong[where]++; wrong[where] <= 5 {
			t.Errorf(where+": "+format, args...)
		}
	}
	checked, reused, late := 0, 0, 0
	for name, key := range keys {
		for _, ep := range []struct {
			endpoint string
			success  map[int64]float64
			what     string
		}{{"balance", up[name], "sunor_api_up"}, {"usage", usageUp[name], `sunor_scrape_collector_success{collector="usage"}`}} {
			where := name + " " + ep.endpoint
			shownHere := shown[name][ep.endpoint]
			got := received(good[key+" "+ep.endpoint], scrapes, ep.success)
			late += len(got) - count(got)
			for _, s := range scrapes {
				if s.v != 1 {
					continue // a failed scrape, reported above
				}
				at := time.UnixMilli(s.ms).Format("15:04:05.000")
				ok, present := ep.success[s.ms]
				v, shownAny := shownHere[s.ms]
				switch {
				case !present:
					bad(where, "the scrape at %s has no %s", at, ep.what)
				case (ok == 1) != shownAny:
					bad(where, "the scrape at %s has %s %v, and the series present: %v", at, ep.what, ok, shownAny)
				case !shownAny:
				case slices.ContainsFunc(v, math.IsNaN):
					bad(where, "the scrape at %s shows part of an answer: %v", at, v)
				default:
					checked++
					r, err := judge(good[key+" "+ep.endpoint], got, s.ms, v)
					if err != nil {
						bad(where, "the scrape at %s shows an answer the fake did not serve in time: %v", at, err)
					}
					if r {
						reused++
					}
				}
			}
			for ms := range shownHere {
				if _, ok := ep.success[ms]; !ok {
					bad(where, "series at %s, which is not a scrape with %s", time.UnixMilli(ms).Format("15:04:05.000"), ep.what)
				}
			}
		}
	}
	total := 0
	for where, n := range wrong {
		total += n
		if n > 5 {
			t.Errorf("%s: %d wrong in all", where, n)
		}
	}
	t.Logf("%d answers shown checked against the fake's, %d of them reused from an earlier scrape's call; %d wrong; %d good answers came too late for their scrape", checked, reused, total, late)

	// The budget, counted by the fake: every call, good or not.
	calls := map[string][]time.Time{}
	modes := map[string]int{}
	for _, s := range served {
		calls[s.Key] = append(calls[s.Key], s.At)
		modes[s.Fail]++
		if !s.LowUntil.IsZero() {
			modes["low_remaining"]++
		}
	}
	for name, key := range keys {
		if err := budgetExceeded(calls[key]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The reserve and the back-off: after an answer that said the key's
	// window is nearly spent, no call with that key until the window's
	// reset; after a 429, none for its Retry-After. Calls granted before the
	// exporter read that answer still reach the fake within their time.
	inFlight := 2 * (chaosTimeout - chaosOffset)
	for _, s := range served {
		until, why := s.LowUntil, "an answer with X-RateLimit-Remaining at or below the reserve"
		if s.Fail == fakesunor.FailRateLimited {
			until, why = s.At.Add(time.Second), "a 429 with Retry-After: 1"
		}
		for _, c := range served {
			if c.Key == s.Key && c.At.After(s.At.Add(inFlight)) && c.At.Before(until) {
				t.Errorf("a call at %s, after %s at %s: no call was due before %s", c.At.Format("15:04:05.000"),
					why, s.At.Format("15:04:05.000"), until.Format("15:04:05.000"))
				break
			}
		}
	}
	// Every failure mode, and the nearly spent window, met the exporter:
	// the deck guarantees it once the exporter made a deck's worth of
	// calls, which the budget allows.
	for _, m := range append([]string{"low_remaining"}, fakesunor.FailModes...) {
		if modes[m] == 0 {
			t.Errorf("the exporter never met %s in %d calls", m, len(served))
		}
	}
	skipped, err := prom.query(`sum by (reason) (sunor_api_calls_skipped_total{job="chaos"})`)
	if err != nil {
		t.Fatal(err)
	}
	var sk []string
	for _, r := range skipped {
		sk = append(sk, fmt.Sprintf("%s %v", r.Metric["reason"], r.Value[1]))
	}
	sort.Strings(sk)
	t.Logf("calls the exporter skipped by reason: %s", strings.Join(sk, ", "))
	var ms []string
	for m, n := range modes {
		if m == fakesunor.FailNone {
			m = "good"
		}
		ms = append(ms, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(ms)
	t.Logf("%d calls over %d accounts (%s)", len(served), chaosAccounts, strings.Join(ms, ", "))

	// The echo_key answers put keys in error messages: none reaches the log.
	logText := exporterProc.Out.String()
	for name, key := range keys {
		if strings.Contains(logText, key) {
			t.Errorf("the exporter's log holds the key of %s", name)
		}
	}
}
