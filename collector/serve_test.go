package collector

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
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

// smallBuffers accepts connections whose send buffer is small, so that an
// answer of a few megabytes fills it and the socket's peer at once when the
// client does not read.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// bigOwn is an exporter registry of about n×100 bytes of text, standing in
// for thousands of accounts.
func bigOwn(n int) prometheus.Gatherer {
	own := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "big", Help: "Many series."}, []string{"series"})
	for i := range n {
		g.WithLabelValues(fmt.Sprintf("%090d", i)).Set(float64(i))
	}
	own.MustRegister(g)
	return own
}

// neverReads sends a GET of path and reads nothing back: the adversary that
// held every slot of --web.max-requests for as long as it stayed.
func neverReads(t *testing.T, addr, path string, header string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).SetReadBuffer(8 << 10)
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, header); err != nil {
		t.Fatal(err)
	}
	return c
}

// begun wraps h and reports each request as it enters h.
func begun(h http.Handler) (http.Handler, <-chan struct{}) {
	began := make(chan struct{}, 16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began <- struct{}{}
		h.ServeHTTP(w, r)
	}), began
}

// served wraps h and reports each request it is done with.
func served(h http.Handler) (http.Handler, <-chan struct{}) {
	done := make(chan struct{}, 16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		h.ServeHTTP(w, r)
	}), done
}

func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func waitServed(t *testing.T, done <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s still writing after %s: a client that does not read holds its slot", what, within)
	}
}

// TestNeverReadingClientReleasesSlot: a client that asks for a large answer
// and never reads it holds its slot of --web.max-requests only until the
// scrape's deadline (or the write timeout without one), then the next
// scrape is served. Before, it held it for as long as it stayed.
func TestNeverReadingClientReleasesSlot(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second}, API: &blockingAPI{}}}, Options{})
	for _, tc := range []struct {
		name   string
		opts   HandlerOpts
		header string
	}{
		// Deadlines of seconds, not less: the 503 below must be asked
		// for while the adversary still holds the slot, on a loaded
		// machine too.
		{"scrape deadline", HandlerOpts{WriteTimeout: time.Hour}, "X-Prometheus-Scrape-Timeout-Seconds: 3\r\n"},
		{"write timeout", HandlerOpts{WriteTimeout: 3 * time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, debug := &lines{}, &lines{}
			tc.opts.Own, tc.opts.ErrorLog, tc.opts.DebugLog = bigOwn(20_000), errs, debug
			inner, began := begun(MetricsHandler(exp, tc.opts))
			h, done := served(LimitInFlight(inner, 1))
			srv := startServer(t, h)
			neverReads(t, srv.Listener.Addr().String(), "/metrics", tc.header)
			// The adversary holds the only slot once its request is in the
			// handler; asked before that, the scrape below would take it.
			select {
			case <-began:
			case <-time.After(10 * time.Second):
				t.Fatal("the adversary's request never reached the handler")
			}
			if code := statusOf(t, srv.URL+"/metrics?name[]=sunor_api_up"); code != http.StatusServiceUnavailable {
				t.Fatalf("a scrape while the slot is held: %d, want 503", code)
			}
			<-done // the 503
			waitServed(t, done, 10*time.Second, "/metrics to a client that never reads")
			if code := statusOf(t, srv.URL+"/metrics?name[]=sunor_api_up"); code != http.StatusOK {
				t.Errorf("the next scrape: %d, want 200", code)
			}
			// A client that does not take its answer is its own trouble,
			// not the exporter's: one line at debug, none at error.
			if l := debug.get(); len(l) != 1 || !strings.Contains(l[0], "did not take the whole answer") {
				t.Errorf("debug lines %q, want one saying the client did not take the answer", l)
			}
			if l := errs.get(); len(l) != 0 {
				t.Errorf("%d error lines for a client that did not read, want none: %q", len(l), l)
			}
		})
	}
}

// TestWriteDeadlines: /metrics, /probe and /sd each end their writing at the
// scrape's announced deadline, counted from the request's arrival, or
// WriteTimeout after writing starts, whichever comes first.
func TestWriteDeadlines(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second}, API: &blockingAPI{}}}, Options{})
	for _, tc := range []struct {
		path    string
		h       http.Handler
		header  string
		earlier time.Duration // at most this after the request came
	}{
		{"/metrics", MetricsHandler(exp, HandlerOpts{WriteTimeout: time.Hour}), "2", 2 * time.Second},
		{"/metrics", MetricsHandler(exp, HandlerOpts{WriteTimeout: 3 * time.Second}), "", 3 * time.Second},
		{"/metrics", MetricsHandler(exp, HandlerOpts{WriteTimeout: 3 * time.Second}), "600", 3 * time.Second},
		{"/probe?account=prod", ProbeHandler(exp, HandlerOpts{WriteTimeout: time.Hour}), "2", 2 * time.Second},
		{"/probe?account=prod", ProbeHandler(exp, HandlerOpts{WriteTimeout: 3 * time.Second}), "", 3 * time.Second},
		{"/sd", &sdHandler{e: exp, writeTimeout: 3 * time.Second}, "", 3 * time.Second},
		{"/sd", SDHandler(exp), "", DefaultWriteTimeout},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		came := time.Now()
		tc.h.ServeHTTP(rec, req)
		end := time.Now()
		switch {
		case rec.Code != 200:
			t.Errorf("%s %q: status %d", tc.path, tc.header, rec.Code)
		case len(rec.deadlines) != 1:
			t.Errorf("%s %q: write deadlines %v, want one", tc.path, tc.header, rec.deadlines)
		case rec.deadlines[0].Before(came.Add(tc.earlier)) || rec.deadlines[0].After(end.Add(tc.earlier)):
			t.Errorf("%s %q: write deadline %s after the request, want %s", tc.path, tc.header, rec.deadlines[0].Sub(came), tc.earlier)
		}
	}
}

// deadlineRecorder records the write deadlines http.ResponseController sets.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// slowReader is a response writer that takes its time over every write, as
// a client reading slowly does.
type slowReader struct {
	*httptest.ResponseRecorder
	pause time.Duration
}

func (s slowReader) Write(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.ResponseRecorder.Write(p)
}

// TestEncodingTimeLeavesOutTheClient: the encoding time a scrape records,
// which the next scrape reserves off its time for API calls, is the time
// to encode, not how slowly the client read. Before, a client taking 2 s
// to read made the next scrape give its calls 4 s less.
func TestEncodingTimeLeavesOutTheClient(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second}, API: &blockingAPI{}}}, Options{})
	h := &metricsHandler{e: exp, o: HandlerOpts{Own: bigOwn(2000)}}
	w := slowReader{httptest.NewRecorder(), 20 * time.Millisecond}
	start := time.Now()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	took := time.Since(start)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "big{") {
		t.Fatalf("status %d, body %.200q", w.Code, w.Body)
	}
	// 200 KB through a 4 KB response buffer: about 50 writes of 20 ms.
	if took < 500*time.Millisecond {
		t.Fatalf("the slow client took %s, want at least 0.5 s (the test's premise)", took)
	}
	if got := time.Duration(h.encoding.Load()); got <= 0 || got > took/2 {
		t.Errorf("recorded encoding time %s of a scrape that took %s to a slow client, want the encoding alone (well under half)", got, took)
	}
}

// lines is a logger that keeps its lines.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintln(v...))
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// manyAccounts returns n accounts with two owner labels each.
func manyAccounts(n int) []accounts.Account {
	accts := make([]accounts.Account, n)
	for i := range accts {
		accts[i] = accounts.Account{Account: config.Account{Name: fmt.Sprintf("account-%05d", i), Timeout: time.Second, Labels: map[string]string{"team": "music", "owner": fmt.Sprintf("owner-%05d", i)}}, API: &blockingAPI{}}
	}
	return accts
}

// TestSDBoundedAndCurrent: /sd counts in --web.max-requests (a request
// beyond the cap gets 503), a client that never reads holds its slot only
// until the write timeout, and the answer, built once per configuration,
// follows every change of the accounts: names, and owner labels alone.
func TestSDBoundedAndCurrent(t *testing.T) {
	exp := New(manyAccounts(3000), Options{})
	inner, began := begun(&sdHandler{e: exp, writeTimeout: 3 * time.Second})
	h, done := served(LimitInFlight(inner, 1))
	srv := startServer(t, h)
	neverReads(t, srv.Listener.Addr().String(), "/sd", "")
	// Asked before the adversary's request is in the handler, the /sd
	// below would take the slot itself (it flaked on a loaded machine).
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("the adversary's request never reached the handler")
	}
	if code := statusOf(t, srv.URL+"/sd"); code != http.StatusServiceUnavailable {
		t.Fatalf("/sd while the adversary holds the only slot: %d, want 503", code)
	}
	<-done // the 503
	waitServed(t, done, 10*time.Second, "/sd to a client that never reads")

	sd := func() map[string]map[string]string {
		t.Helper()
		got := map[string]map[string]string{}
		for target, labels := range sdGroups(t, exp) {
			got[target] = labels
		}
		return got
	}
	if got := sd(); len(got) != 3000 || got["account-00007"]["__meta_sunor_account_label_owner"] != "owner-00007" {
		t.Fatalf("/sd lists %d targets, account-00007: %v", len(got), got["account-00007"])
	}
	// The same accounts, one owner label changed: a reload that keeps every
	// account's state.
	accts := manyAccounts(3000)
	accts[7].Labels = map[string]string{"team": "video", "owner": "someone-else"}
	exp.SetAccounts(accts)
	if got := sd()["account-00007"]; got["__meta_sunor_account_label_team"] != "video" || got["__meta_sunor_account_label_owner"] != "someone-else" {
		t.Errorf("/sd after a reload that changed account-00007's labels: %v", got)
	}
	exp.SetAccounts(manyAccounts(2))
	if got := sd(); len(got) != 2 {
		t.Errorf("/sd after a reload to 2 accounts lists %d", len(got))
	}
}

// TestSDAllocationsDoNotGrowWithAccounts: a request to /sd serves the
// answer built for the configuration; what it allocates does not depend on
// how many accounts there are (10 000 accounts with two owner labels and
// 1000 requests at once took 4.7 GiB when each built its own).
func TestSDAllocationsDoNotGrowWithAccounts(t *testing.T) {
	allocs := func(n int) float64 {
		h := SDHandler(New(manyAccounts(n), Options{}))
		req := httptest.NewRequest("GET", "/sd", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		h.ServeHTTP(httptest.NewRecorder(), req) // the first request builds it
		return testing.AllocsPerRun(20, func() { h.ServeHTTP(discard{}, req) })
	}
	few, many := allocs(10), allocs(5000)
	if many > few+2 {
		t.Errorf("a request to /sd allocates %.0f times with 5000 accounts, %.0f with 10: want no more with more accounts", many, few)
	}
}

// discard is a response writer that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// BenchmarkSD: one request to /sd, gzipped as Prometheus asks, per
// number of accounts. bytes/op and allocs/op stay the same from 100 to
// 10 000 accounts.
func BenchmarkSD(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			h := SDHandler(New(manyAccounts(n), Options{}))
			req := httptest.NewRequest("GET", "/sd", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			h.ServeHTTP(discard{}, req)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(discard{}, req)
			}
		})
	}
}

// TestSkipLogSaysWhatIsShown: the line logged when the guard makes no call
// says what the scrape shows instead. After a restart and a 429 there is no
// good answer, and the line said "reusing the last good answer" all the
// same.
func TestSkipLogSaysWhatIsShown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answerOnce bool // a good answer before the 429
		want       string
	}{
		{"no answer yet", false, "no good answer yet to show: sunor_api_up 0"},
		{"an answer before", true, "showing the last good answer while it is at most 5 minutes old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &scriptedAPI{answer: func(n int) ([]float64, sunor.RateLimit, error) {
				if tc.answerOnce && n == 1 {
					return []float64{1, 1, 2}, sunor.RateLimit{}, nil
				}
				return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: "balance", Reason: sunor.ReasonRateLimited, StatusCode: 429, RetryAfter: time.Minute}
			}}
			g := newGuardEnv(t, api, 0, 0)
			if tc.answerOnce {
				g.scrape()
			}
			g.scrape() // the 429
			mfs := g.scrape()
			lines := logLines(g.log.String(), "Not calling the Sunor API")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("skip log lines %q, want one saying %q", lines, tc.want)
			}
			up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": "prod"})
			if want := boolValue(tc.answerOnce); up != want {
				t.Errorf("sunor_api_up = %v while the 429's back-off runs, want %v", up, want)
			}
		})
	}
}

// BenchmarkConcurrentZstd: 40 scrapes at once (--web.max-requests) of 1000
// accounts with two owner labels, each asking for zstd as Prometheus 3
// does. peak-heap-MiB is the largest heap in use sampled during the
// scrapes; the rest of a scrape (the series) is the same as with gzip.
//
//	go test -run '^$' -bench ConcurrentZstd -benchmem -benchtime 5x ./collector
func BenchmarkConcurrentZstd(b *testing.B) {
	for _, enc := range []string{"gzip", "zstd"} {
		b.Run("encoding="+enc, func(b *testing.B) {
			accts := manyAccounts(1000)
			for i := range accts {
				accts[i].API = answeringAPI{}
			}
			exp := New(accts, Options{Scrapers: []Scraper{Usage}})
			h := MetricsHandler(exp, HandlerOpts{})
			h.ServeHTTP(discard{}, httptest.NewRequest("GET", "/metrics", nil)) // every account answered
			stop, peak := make(chan struct{}), make(chan uint64)
			go func() {
				var most uint64
				var m runtime.MemStats
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					runtime.ReadMemStats(&m)
					most = max(most, m.HeapInuse)
					select {
					case <-stop:
						peak <- most
						return
					case <-tick.C:
					}
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for range 40 {
					wg.Go(func() {
						req := httptest.NewRequest("GET", "/metrics", nil)
						req.Header.Set("Accept-Encoding", enc)
						h.ServeHTTP(discard{}, req)
					})
				}
				wg.Wait()
			}
			close(stop)
			b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// failingWriter is a client that hangs up after n bytes.
type failingWriter struct {
	discard
	n int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

// TestZstdEncoderReusedAfterClientGone: a client that hangs up mid-answer
// is logged once at debug, in every compression; the zstd encoders are
// pooled, and one whose client hung up serves the next scrape a whole
// answer.
func TestZstdEncoderReusedAfterClientGone(t *testing.T) {
	exp := New(twoTeams(), Options{})
	errs, debug := &lines{}, &lines{}
	h := MetricsHandler(exp, HandlerOpts{Own: bigOwn(2000), ErrorLog: errs, DebugLog: debug})
	for _, enc := range []string{"identity", "gzip", "zstd"} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		h.ServeHTTP(&failingWriter{n: 5000}, req)
	}
	// A client that hangs up mid-answer: one line at debug each, none at
	// error (there was one per family left).
	if l := errs.get(); len(l) != 0 {
		t.Errorf("error lines for clients that hung up: %q", l)
	}
	if l := debug.get(); len(l) != 3 {
		t.Errorf("debug lines for 3 clients that hung up: %q, want 3", l)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "zstd")
	for range 3 {
		h.ServeHTTP(&failingWriter{n: 5000}, req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	zr, err := zstd.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	body, err := io.ReadAll(zr)
	if err != nil || !strings.Contains(string(body), `big{series="`+fmt.Sprintf("%090d", 1999)+`"} 1999`) || !strings.Contains(string(body), "sunor_api_up{") {
		t.Errorf("zstd answer after hung-up scrapes: %v, %d bytes", err, len(body))
	}
}
