package collector

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// deadlineAPI records how much time each call was given.
type deadlineAPI struct {
	mu     sync.Mutex
	budget []time.Duration
	block  chan struct{} // if set, calls wait on it
}

func (d *deadlineAPI) Balance(ctx context.Context) (sunor.Balance, sunor.RateLimit, error) {
	dl, ok := ctx.Deadline()
	d.mu.Lock()
	if ok {
		d.budget = append(d.budget, time.Until(dl))
	} else {
		d.budget = append(d.budget, -1)
	}
	d.mu.Unlock()
	if d.block != nil {
		<-d.block
	}
	return sunor.Balance{Available: 1, Total: 1}, sunor.RateLimit{}, nil
}

func (d *deadlineAPI) Usage(context.Context) (sunor.Usage, sunor.RateLimit, error) {
	return sunor.Usage{}, sunor.RateLimit{}, nil
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

// TestHandlerHonoursScrapeTimeout: the API call gets the smaller of the
// account timeout and the announced scrape timeout less the offset.
func TestHandlerHonoursScrapeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name          string
		header        string
		timeout       time.Duration
		lo, hi        time.Duration // the budget the call must see
		wantStatus    int
		wantBodyMatch string
	}{
		{"header lowers the timeout", "3", 10 * time.Second, 2 * time.Second, 2500 * time.Millisecond, 200, "sunor_api_up"},
		{"timeout lower than header", "30", 1 * time.Second, 500 * time.Millisecond, time.Second, 200, "sunor_api_up"},
		{"no header", "", 4 * time.Second, 3 * time.Second, 4 * time.Second, 200, "sunor_api_up"},
		{"offset leaves nothing", "0.4", 10 * time.Second, 100 * time.Millisecond, 200 * time.Millisecond, 200, "sunor_api_up"},
		{"bad header", "soon", 10 * time.Second, 0, 0, 400, "invalid X-Prometheus-Scrape-Timeout-Seconds"},
		{"negative header", "-1", 10 * time.Second, 0, 0, 400, "invalid X-Prometheus-Scrape-Timeout-Seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &deadlineAPI{}
			exp := New([]Account{{Name: "prod", API: api, Timeout: tc.timeout}}, Options{})
			h := Handler(exp, nil, HandlerOpts{TimeoutOffset: 500 * time.Millisecond})
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tc.header != "" {
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBodyMatch) {
				t.Fatalf("status %d, body %q; want %d and %q", rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBodyMatch)
			}
			if tc.wantStatus != 200 {
				if len(api.budget) != 0 {
					t.Error("a rejected scrape called the API")
				}
				return
			}
			if len(api.budget) != 1 || api.budget[0] < tc.lo || api.budget[0] > tc.hi {
				t.Errorf("the call was given %v, want between %s and %s", api.budget, tc.lo, tc.hi)
			}
		})
	}
}

func TestHandlerMaxRequests(t *testing.T) {
	api := &deadlineAPI{block: make(chan struct{})}
	exp := New([]Account{{Name: "prod", API: api, Timeout: 10 * time.Second}}, Options{})
	joined := make(chan struct{})
	exp.accounts[0].balance.waiting = func() { close(joined) }
	srv := httptest.NewServer(Handler(exp, nil, HandlerOpts{MaxRequests: 1}))
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
	<-joined // the first scrape holds the only slot
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

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0, *;q=0.5": true,
		"gzip;q=0": false, "identity": false, "*": true, "br, zstd": false, " gzip ; q=0.3": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// TestHandlerCompression: gzip when asked (as Prometheus asks), plain text
// otherwise, the same content either way.
func TestHandlerCompression(t *testing.T) {
	exp := New([]Account{{Name: "prod", API: &deadlineAPI{}, Timeout: time.Second}}, Options{})
	srv := httptest.NewServer(Handler(exp, nil, HandlerOpts{}))
	defer srv.Close()
	fetch := func(enc string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	zipped, zbody := fetch("gzip")
	plain, pbody := fetch("identity")
	if zipped.Header.Get("Content-Encoding") != "gzip" || plain.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding: %q with gzip asked, %q without", zipped.Header.Get("Content-Encoding"), plain.Header.Get("Content-Encoding"))
	}
	stable := func(s string) string { // drop the per-scrape timing series
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "sunor_api_request_duration_seconds{") && !strings.HasPrefix(l, "sunor_last_success_timestamp_seconds{") && !strings.HasPrefix(l, "sunor_scrape_collector_duration_seconds{") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if stable(zbody) != stable(pbody) || !strings.Contains(pbody, `sunor_api_up{account="prod"} 1`) {
		t.Errorf("bodies differ or lack sunor_api_up:\n%s\n---\n%s", zbody, pbody)
	}
	if ct := zipped.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestCollectorsRefuseDuplicates(t *testing.T) {
	var own Collectors
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"})
	if err := own.Register(g); err != nil {
		t.Fatal(err)
	}
	if err := own.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"})); err == nil {
		t.Error("a duplicate collector was accepted; it would fail every scrape")
	}
	if len(own.snapshot()) != 1 {
		t.Errorf("%d collectors kept, want 1", len(own.snapshot()))
	}
}
