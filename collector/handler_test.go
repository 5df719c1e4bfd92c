package collector

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// blockingAPI answers every call with a balance of 1, or, when block is
// set, waits until block is closed or the call is abandoned, and records
// how long the call was given.
type blockingAPI struct {
	called chan struct{} // if set, receives one value per call
	block  chan struct{}

	mu    sync.Mutex
	given []time.Duration
}

func (b *blockingAPI) Fetch(ctx context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	start := time.Now()
	if b.called != nil {
		b.called <- struct{}{}
	}
	if b.block != nil {
		select {
		case <-b.block:
		case <-ctx.Done():
			b.mu.Lock()
			b.given = append(b.given, time.Since(start))
			b.mu.Unlock()
			return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonTimeout, Message: ctx.Err().Error()}
		}
	}
	return make([]float64, len(ep.Fields)), sunor.RateLimit{}, nil
}

func TestScrapeBudget(t *testing.T) {
	for _, tc := range []struct{ scrape, offset, want time.Duration }{
		{10 * time.Second, 500 * time.Millisecond, 9500 * time.Millisecond},
		{3 * time.Second, 0, 3 * time.Second},
		{400 * time.Millisecond, 500 * time.Millisecond, 200 * time.Millisecond}, // nothing left: half
		{500 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond},
	} {
		if got := ScrapeBudget(tc.scrape, tc.offset); got != tc.want {
			t.Errorf("ScrapeBudget(%s, %s) = %s, want %s", tc.scrape, tc.offset, got, tc.want)
		}
	}
}

// TestHandlerHonoursScrapeTimeout: a call that does not answer is abandoned
// at the smaller of the account timeout and the announced scrape timeout
// less the offset, and the scrape still answers, with sunor_api_up 0.
func TestHandlerHonoursScrapeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  string
		offset  time.Duration
		timeout time.Duration
		lo, hi  time.Duration // when the call must be abandoned
	}{
		// lo is a little under the budget: the call starts a moment after
		// the scrape's deadline is set.
		{"header lowers the timeout", "1.8", 500 * time.Millisecond, 10 * time.Second, 1250 * time.Millisecond, 2 * time.Second},
		{"timeout lower than header", "30", 500 * time.Millisecond, 200 * time.Millisecond, 150 * time.Millisecond, 2 * time.Second},
		{"no header", "", 500 * time.Millisecond, 200 * time.Millisecond, 150 * time.Millisecond, 2 * time.Second},
		// Half of 3 s, not 3 s (no offset) nor 10 s (the account's).
		{"offset leaves nothing", "3", 4 * time.Second, 10 * time.Second, 1400 * time.Millisecond, 2900 * time.Millisecond},
		// 1e10 s overflowed time.Duration into an instant timeout.
		{"huge header", "1e10", 500 * time.Millisecond, 200 * time.Millisecond, 150 * time.Millisecond, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &blockingAPI{block: make(chan struct{})}
			exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: tc.timeout}, API: api}}, Options{})
			h := MetricsHandler(exp, HandlerOpts{TimeoutOffset: tc.offset})
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tc.header != "" {
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `sunor_api_up{account="prod"} 0`) {
				t.Fatalf("status %d, body %q; want 200 and sunor_api_up 0", rec.Code, rec.Body.String())
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if len(api.given) != 1 || api.given[0] < tc.lo || api.given[0] > tc.hi {
				t.Errorf("the call was abandoned after %v, want between %s and %s", api.given, tc.lo, tc.hi)
			}
		})
	}
}

func TestHandlerRejectsBadScrapeTimeout(t *testing.T) {
	for _, v := range []string{"soon", "-1", "0", "NaN", "+Inf"} {
		api := &blockingAPI{}
		exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second}, API: api}}, Options{})
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", v)
		rec := httptest.NewRecorder()
		MetricsHandler(exp, HandlerOpts{}).ServeHTTP(rec, req)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid X-Prometheus-Scrape-Timeout-Seconds") {
			t.Errorf("%q: %d %q, want 400 naming the header", v, rec.Code, rec.Body.String())
		}
	}
}

func TestLimitInFlight(t *testing.T) {
	api := &blockingAPI{called: make(chan struct{}, 1), block: make(chan struct{})}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 10 * time.Second}, API: api}}, Options{})
	srv := httptest.NewServer(LimitInFlight(MetricsHandler(exp, HandlerOpts{}), 1))
	defer srv.Close()

	first := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-api.called // the first scrape holds the only slot
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Limit of concurrent requests reached (1)") {
		t.Errorf("second scrape: %d %q, want 503 with the limit", resp.StatusCode, body)
	}
	close(api.block)
	if code := <-first; code != 200 {
		t.Errorf("first scrape: status %d, want 200", code)
	}
}

// TestHandlerCompression: gzip or zstd when asked (Prometheus asks), plain
// text otherwise, the same content every way, the exporter's own registry
// served alongside.
func TestHandlerCompression(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second}, API: &blockingAPI{}}}, Options{})
	own := prometheus.NewRegistry()
	own.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "own_gauge", Help: "x"}))
	srv := httptest.NewServer(MetricsHandler(exp, HandlerOpts{Own: own}))
	defer srv.Close()
	fetch := func(enc string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		switch resp.Header.Get("Content-Encoding") {
		case "gzip":
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		case "zstd":
			zr, err := zstd.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			r = zr
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Content-Encoding"), string(b)
	}
	stable := func(s string) string { // drop the per-scrape timing series
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "duration_seconds{") && !strings.HasPrefix(l, "sunor_api_call_duration_seconds_") && !strings.HasPrefix(l, "sunor_last_success_timestamp_seconds{") && !strings.HasPrefix(l, "sunor_api_requests_total{") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	_, plain := fetch("identity")
	if !strings.Contains(plain, `sunor_api_up{account="prod"} 1`) || !strings.Contains(plain, "own_gauge 0") {
		t.Fatalf("plain body lacks sunor_api_up 1 or the exporter's own metrics:\n%s", plain)
	}
	for _, enc := range []string{"gzip", "zstd"} {
		got, body := fetch(enc)
		if got != enc {
			t.Errorf("asked for %s, got Content-Encoding %q", enc, got)
		}
		if stable(body) != stable(plain) {
			t.Errorf("%s body differs from the plain one:\n%s\n---\n%s", enc, body, plain)
		}
	}
}

func TestProbe(t *testing.T) {
	exp := New([]accounts.Account{
		{Account: config.Account{Name: "a", Timeout: time.Second}, API: &blockingAPI{}},
		{Account: config.Account{Name: "b", Timeout: time.Second}, API: &blockingAPI{}},
	}, Options{})
	own := prometheus.NewRegistry()
	own.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "own_gauge", Help: "x"}))
	srv := httptest.NewServer(ProbeHandler(exp, HandlerOpts{Own: own}))
	defer srv.Close()
	get := func(query string) (int, string) {
		resp, err := http.Get(srv.URL + "/probe" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("?account=b")
	if code != 200 || !strings.Contains(body, `sunor_api_up{account="b"} 1`) ||
		!strings.Contains(body, `sunor_scrape_collector_success{account="b",collector="balance"} 1`) {
		t.Errorf("probe of b: %d\n%s", code, body)
	}
	if strings.Contains(body, `account="a"`) || strings.Contains(body, "own_gauge") {
		t.Errorf("probe of b shows another account or the exporter's own metrics:\n%s", body)
	}
	for query, want := range map[string]string{
		"":                                     "the account parameter is missing",
		"?account=":                            "the account parameter is missing",
		"?account=nobody":                      `unknown account "nobody"`,
		"?account=" + strings.Repeat("x", 500): `unknown account "` + strings.Repeat("x", 64) + `..."`,
	} {
		if code, body := get(query); code != 400 || !strings.Contains(body, want) {
			t.Errorf("probe%s: %d %q, want 400 with %q", query, code, body, want)
		}
	}
}

func TestSD(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "a"}, API: &blockingAPI{}}, {Account: config.Account{Name: "b"}, API: &blockingAPI{}}}, Options{})
	rec := httptest.NewRecorder()
	SDHandler(exp).ServeHTTP(rec, httptest.NewRequest("GET", "/sd", nil))
	var groups []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &groups); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("not http_sd JSON (%v): %s", err, rec.Body)
	}
	if len(groups) != 2 || groups[0].Targets[0] != "a" || groups[1].Targets[0] != "b" || groups[1].Labels["__meta_sunor_account"] != "b" {
		t.Errorf("groups = %+v", groups)
	}
	exp.SetAccounts([]accounts.Account{{Account: config.Account{Name: "c"}, API: &blockingAPI{}}})
	rec = httptest.NewRecorder()
	SDHandler(exp).ServeHTTP(rec, httptest.NewRequest("GET", "/sd", nil))
	if !strings.Contains(rec.Body.String(), `"targets":["c"]`) || strings.Contains(rec.Body.String(), `"a"`) {
		t.Errorf("after SetAccounts: %s", rec.Body)
	}
}
