package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// clock is the exporter's and the page's settable time.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// demo is an exporter with one account in each state, against the fake
// API, and its status page.
type demo struct {
	fake  *fakesunor.Server
	url   string
	clock *testClock
	exp   *collector.Exporter
	page  http.Handler
	probe http.Handler
}

// Keys of the demo's accounts, one per state. None may show anywhere.
var demoKeys = map[string]string{
	"ok-music":    "key-ok-3b9d1",
	"low-music":   "key-low-77a2e",
	"down-video":  "key-down-51c0f",
	"paused-shop": "key-paused-9e4a",
	"stale-shop":  "key-stale-c2d81",
	"waiting":     "key-waiting-0aa7",
	"empty-video": "key-empty-6d3b",
}

func account(t testing.TB, url, name, key string, labels map[string]string) accounts.Account {
	t.Helper()
	base, err := baseurl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return accounts.Account{Account: config.Account{Name: name, URL: url,
		Timeout: 5 * time.Second, LowCreditsThreshold: 500, MaxCallsPerMinute: 12, RateLimitReserve: 10, TaskCost: 10, Labels: labels, APIKeyEnv: "KEY_OF_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))},
		API: sunor.NewClient(base, &http.Client{}, apikey.Static(key).Key)}
}

// newDemo builds the accounts and drives each into its state: stale's
// balance answered 6 minutes ago, and the others since; waiting was never
// scraped.
func newDemo(t testing.TB) *demo {
	t.Helper()
	fake := fakesunor.New("unused-key-1")
	srv := testtool.ServeAPI(t, fake)
	d := &demo{fake: fake, url: srv.URL, clock: &testClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}}
	fake.SetAccount(demoKeys["ok-music"], fakesunor.Account{Available: 950, Frozen: 50})
	fake.SetAccount(demoKeys["low-music"], fakesunor.Account{Available: 120})
	fake.SetAccount(demoKeys["down-video"], fakesunor.Account{Available: 900, Fail: fakesunor.FailEchoKey})
	fake.SetAccount(demoKeys["paused-shop"], fakesunor.Account{Available: 900, Fail: fakesunor.FailRateLimited})
	fake.SetAccount(demoKeys["stale-shop"], fakesunor.Account{Available: 800})
	fake.SetAccount(demoKeys["waiting"], fakesunor.Account{Available: 700, Fail: fakesunor.FailHang})
	fake.SetAccount(demoKeys["empty-video"], fakesunor.Account{Available: 4, Frozen: 10})
	labels := map[string]map[string]string{"ok-music": {"team": "music"}, "low-music": {"team": "music"},
		"down-video": {"team": "video"}, "empty-video": {"team": "video"}, "paused-shop": {"team": "shop"}, "stale-shop": {"team": "shop"}}
	var accts []accounts.Account
	for _, name := range []string{"ok-music", "low-music", "down-video", "paused-shop", "stale-shop", "waiting", "empty-video"} {
		accts = append(accts, account(t, srv.URL, name, demoKeys[name], labels[name]))
	}
	d.exp = collector.New(accts, collector.Options{Now: d.clock.Now})
	d.page = Handler(d.exp, Options{MetricsPath: "/metrics", Version: "test", Now: d.clock.Now})
	d.probe = collector.ProbeHandler(d.exp, collector.HandlerOpts{})
	d.get(t, "/probe?account=stale-shop")
	d.clock.Advance(6 * time.Minute)
	for _, name := range []string{"ok-music", "low-music", "down-video", "paused-shop", "empty-video"} {
		d.get(t, "/probe?account="+name)
	}
	return d
}

// get serves path by the page or the probe handler, as the exporter's mux.
func (d *demo) get(t testing.TB, path string, header ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h := d.page
	if strings.HasPrefix(path, "/probe") {
		h = d.probe
	}
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func (d *demo) json(t testing.TB, path string) Page {
	t.Helper()
	code, body := d.get(t, path)
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, body)
	}
	var p Page
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return p
}

func names(p Page) []string {
	var out []string
	for _, r := range p.Rows {
		out = append(out, r.Account)
	}
	return out
}

func TestEveryStateTroubleFirst(t *testing.T) {
	d := newDemo(t)
	p := d.json(t, "/status?format=json")
	want := []struct{ account, state string }{
		{"down-video", "down: unauthorized"},
		{"paused-shop", "paused: Retry-After until 12:06:30"},
		{"empty-video", "exhausted"},
		{"low-music", "low"},
		{"stale-shop", "stale"},
		{"waiting", "waiting for first answer"},
		{"ok-music", "ok"},
	}
	if len(p.Rows) != len(want) || p.Total != len(want) {
		t.Fatalf("rows %v (total %d), want %d", names(p), p.Total, len(want))
	}
	for i, w := range want {
		if r := p.Rows[i]; r.Account != w.account || r.State != w.state {
			t.Errorf("row %d: %s %q, want %s %q", i, r.Account, r.State, w.account, w.state)
		}
	}
	ok := p.Rows[6]
	if ok.Available == nil || *ok.Available != 950 || ok.USD == nil || *ok.USD != 9.5 || *ok.Frozen != 50 {
		t.Errorf("ok-music's balance: %+v", ok)
	}
	if ok.LastCall == nil || ok.LastCall.Status != 200 || ok.LastCall.Path != "/api/v1/account/balance" || !ok.LastCall.HasRemaining {
		t.Errorf("ok-music's last call: %+v", ok.LastCall)
	}
	if ok.DebugURL != "/probe?account=ok-music&debug=true" {
		t.Errorf("debug URL %q", ok.DebugURL)
	}
	paused := p.Rows[1]
	if paused.NextCallAt == nil || !paused.NextCallAt.Equal(d.clock.Now().Add(30*time.Second)) || paused.NextCallWhy != "a 429's Retry-After" {
		t.Errorf("paused-shop's next call: %v %q", paused.NextCallAt, paused.NextCallWhy)
	}
	if c := paused.LastCall; c == nil || c.Status != 429 || c.RetryAfter != 30*time.Second || c.Reason != "rate_limited" {
		t.Errorf("paused-shop's last call: %+v", c)
	}
	if stale := p.Rows[4]; stale.AgeSeconds == nil || *stale.AgeSeconds != 360 {
		t.Errorf("stale-shop's age: %v", stale.AgeSeconds)
	}
	if want := map[string]int{"down": 1, "paused": 1, "exhausted": 1, "low": 1, "stale": 1, "waiting for first answer": 1, "ok": 1}; fmt.Sprint(p.Counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", p.Counts, want)
	}
	// The recent calls: every call made, the newest first.
	if len(p.RecentCalls) != 6 || p.RecentCalls[0].At.Before(p.RecentCalls[5].At) || p.RecentCalls[5].Account != "stale-shop" {
		t.Errorf("recent calls: %+v", p.RecentCalls)
	}

	// The page itself, for a person, in the same order.
	calls := d.fake.Requests("balance")
	code, html := d.get(t, "/")
	if code != 200 {
		t.Fatalf("/: %d", code)
	}
	last := 0
	for _, w := range want {
		i := strings.Index(html, `data-account="`+w.account+`" data-state="`+w.state+`"`)
		if i < last {
			t.Errorf("the page has %s (%s) at %d, after %d", w.account, w.state, i, last)
		}
		last = i
	}
	for _, s := range []string{"<code>ok-music</code>", "unauthorized: key &lt;redacted&gt; is not valid", `href="/metrics"`, `href="/sd"`, "Recent calls", `href="/probe?account=ok-music&amp;debug=true"`} {
		if !strings.Contains(html, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	checkNoKey(t, html+fmt.Sprint(p))
	// No JavaScript, nothing fetched from anywhere: one self-contained page.
	for _, s := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(html, s) {
			t.Errorf("the page holds %q: it must load nothing and run nothing", s)
		}
	}
	if n := d.fake.Requests("balance"); n != calls {
		t.Errorf("loading the page made %d API calls, want none", n-calls)
	}
	if t.Failed() {
		t.Log(html)
	}
}

// checkNoKey fails if any demo key, or a piece of one long enough to
// identify it, shows in out.
func checkNoKey(t *testing.T, out string) {
	t.Helper()
	for _, k := range demoKeys {
		if strings.Contains(out, k) || strings.Contains(out, k[4:]) {
			t.Errorf("the key %s shows", k)
		}
	}
}

func TestJSONByAccept(t *testing.T) {
	d := newDemo(t)
	for _, path := range []string{"/", "/status"} {
		code, body := d.get(t, path, "Accept", "application/json")
		if code != 200 || !json.Valid([]byte(body)) || !strings.Contains(body, `"state":"down: unauthorized"`) {
			t.Errorf("%s with Accept: application/json: %d %.200s", path, code, body)
		}
	}
	// A browser's Accept lists text/html: the page.
	if _, body := d.get(t, "/", "Accept", "text/html,application/xhtml+xml,application/json;q=0.9"); !strings.HasPrefix(body, "<!DOCTYPE html>") {
		t.Errorf("a browser got %.100s", body)
	}
	if code, _ := d.get(t, "/favicon.ico"); code != 404 {
		t.Errorf("/favicon.ico: %d, want 404", code)
	}
}

func TestFilters(t *testing.T) {
	d := newDemo(t)
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"state=down", "[down-video]"},
		{"state=paused", "[paused-shop]"},
		{"state=waiting+for+first+answer", "[waiting]"},
		{"team=music", "[low-music ok-music]"},
		{"state=exhausted&team=video", "[empty-video]"},
		{"team=shop&state=stale", "[stale-shop]"},
		{"account=MUSIC", "[low-music ok-music]"},
		{"account=nothing", "[]"},
	} {
		p := d.json(t, "/status?format=json&"+tc.query)
		if got := fmt.Sprint(names(p)); got != tc.want {
			t.Errorf("?%s: %s, want %s", tc.query, got, tc.want)
		}
		if p.Total != 7 || p.Matching != len(p.Rows) {
			t.Errorf("?%s: total %d, matching %d, rows %d", tc.query, p.Total, p.Matching, len(p.Rows))
		}
	}
	// The form keeps the filter, and the page says so.
	if _, html := d.get(t, "/?team=music&state=low"); !strings.Contains(html, `<input type="hidden" name="team" value="music">`) || !strings.Contains(html, "<option selected>low</option>") {
		t.Error("the page does not keep the filter in its form")
	}
}

// TestFirstRowsAndTheRest: at MaxRows+50 accounts, the page shows MaxRows,
// trouble first, and counts the rest.
func TestFirstRowsAndTheRest(t *testing.T) {
	fake := fakesunor.New("k-0000")
	srv := testtool.ServeAPI(t, fake)
	var accts []accounts.Account
	for i := range MaxRows + 50 {
		accts = append(accts, account(t, srv.URL, fmt.Sprintf("acct-%03d", i), "k-0000", nil))
	}
	fake.Update("k-0000", func(a *fakesunor.Account) { a.Fail = fakesunor.FailUnauthorized })
	exp := collector.New(accts, collector.Options{})
	if c, ok := exp.Probe(context.Background(), accts[MaxRows+49].Name); ok {
		_, _ = collectOnce(c)
	}
	rec := httptest.NewRecorder()
	Handler(exp, Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?format=json", nil))
	var p Page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != MaxRows || p.NotShown != 50 || p.Matching != MaxRows+50 || p.Total != MaxRows+50 {
		t.Fatalf("%d rows, %d not shown, %d matching, %d in all", len(p.Rows), p.NotShown, p.Matching, p.Total)
	}
	if p.Rows[0].Account != "acct-149" || p.Rows[0].Kind != StateDown || p.Rows[1].Account != "acct-000" {
		t.Errorf("first rows %s (%s), %s: want the down account first, then by name", p.Rows[0].Account, p.Rows[0].Kind, p.Rows[1].Account)
	}
	rec = httptest.NewRecorder()
	Handler(exp, Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(rec.Body.String(), "Showing the first 100 of 150 matching accounts; 50 more not shown.") {
		t.Error("the page does not count the accounts not shown")
	}
}

// TestHostileTextEscaped: an account name, an owner label value and an API
// message made to break out of HTML are shown as text.
func TestHostileTextEscaped(t *testing.T) {
	const evil = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		m, _ := json.Marshal(evil)
		fmt.Fprintf(w, `{"code":401,"message":%s}`, m)
	}))
	t.Cleanup(api.Close)
	a := account(t, api.URL, evil, "key-hostile-1f2e3d", map[string]string{"team": evil})
	exp := collector.New([]accounts.Account{a}, collector.Options{})
	c, _ := exp.Probe(context.Background(), evil)
	_, _ = collectOnce(c)
	rec := httptest.NewRecorder()
	Handler(exp, Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	html := rec.Body.String()
	if !strings.Contains(html, "down: unauthorized") {
		t.Fatalf("the account is not down:\n%s", html)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", `"'><img`} {
		if strings.Contains(html, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if n := strings.Count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 3 {
		t.Errorf("the name, label value and message are shown escaped %d times, want 3 at least", n)
	}
}

// TestCurrentAfterReload: the page lists the accounts in force, at once.
func TestCurrentAfterReload(t *testing.T) {
	d := newDemo(t)
	d.exp.SetAccounts([]accounts.Account{account(t, d.url, "added-later", "key-added-4444", nil)})
	p := d.json(t, "/?format=json")
	if fmt.Sprint(names(p)) != "[added-later]" || p.Total != 1 {
		t.Errorf("after a reload: %v (total %d), want [added-later]", names(p), p.Total)
	}
}

func collectOnce(c prometheus.Collector) (int, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return 0, err
	}
	mfs, err := reg.Gather()
	return len(mfs), err
}

// TestPageWhileScraping reads the page while scrapes and reloads run (run
// with -race): the snapshot copies what it reads under the collector's own
// locks, and the page is always whole.
func TestPageWhileScraping(t *testing.T) {
	d := newDemo(t)
	d.fake.Update(demoKeys["waiting"], func(a *fakesunor.Account) { a.Fail = "" })
	accts := []accounts.Account{account(t, d.url, "ok-music", demoKeys["ok-music"], nil), account(t, d.url, "low-music", demoKeys["low-music"], nil)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			_, _ = collectOnce(d.exp)
			if i%5 == 4 {
				d.exp.SetAccounts(accts[:1+i%2])
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			rec := httptest.NewRecorder()
			d.page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != 200 || !strings.HasSuffix(rec.Body.String(), "</html>\n") {
				t.Errorf("%d, a page cut short", rec.Code)
			}
		}
	}()
	for range 50 {
		d.json(t, "/status?format=json")
	}
	close(done)
	wg.Wait()
}

// TestReservePaused: an answer with X-RateLimit-Remaining at or below the
// reserve pauses the key; the page says until when, and why no call.
func TestReservePaused(t *testing.T) {
	fake := fakesunor.New("key-reserve-81f0")
	fake.RateLimit = 5  // 4 left after the first call: under the reserve of 10
	fake.NoReset = true // the pause is then the documented window, from the exporter's clock
	srv := testtool.ServeAPI(t, fake)
	c := &testClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	exp := collector.New([]accounts.Account{account(t, srv.URL, "shop", "key-reserve-81f0", nil)}, collector.Options{Now: c.Now})
	pr, _ := exp.Probe(context.Background(), "shop")
	if _, err := collectOnce(pr); err != nil {
		t.Fatal(err)
	}
	p := Build(exp.Status(), exp.RecentCalls(), Filter{}, c.Now())
	r := p.Rows[0]
	if r.State != "paused: reserve until 12:01:00" || r.Kind != StatePaused {
		t.Errorf("state %q, want paused: reserve until 12:01:00", r.State)
	}
	if r.NextCallAt == nil || r.NextCallWhy != "X-RateLimit-Remaining is at or below the reserve of 10" {
		t.Errorf("next call %v %q", r.NextCallAt, r.NextCallWhy)
	}
	if r.LastCall == nil || !r.LastCall.HasRemaining || r.LastCall.Remaining != 4 {
		t.Errorf("last call %+v", r.LastCall)
	}
}
