package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	// zstd for promhttp's output, which the streaming encoder is compared with.
	_ "github.com/prometheus/client_golang/prometheus/promhttp/zstd"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// replay sends the same metrics on every Collect, so that two encoders
// can be given one scrape.
type replay []prometheus.Metric

func (replay) Describe(chan<- *prometheus.Desc) {}
func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		ch <- m
	}
}

// expanded is a replay as a registry gathers it: a counterSet a series at
// a time.
type expanded replay

func (expanded) Describe(chan<- *prometheus.Desc) {}
func (r expanded) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		expand(m, ch)
	}
}

// TestServeMatchesRegistry: the family-by-family encoding writes, byte for
// byte, what a per-scrape registry merged with the exporter's own registry
// and encoded by promhttp wrote, in every format and compression, with
// accounts of different owner label sets, counters at 0 and not, and the
// name[] filter; the families written whole and, with chunks of 3 series,
// a chunk at a time.
func TestServeMatchesRegistry(t *testing.T) {
	for _, size := range []int{chunkSize, 3} {
		t.Run(fmt.Sprintf("chunks of %d", size), func(t *testing.T) {
			defer func(was int) { chunkSize = was }(chunkSize)
			chunkSize = size
			serveMatchesRegistry(t)
		})
	}
}

func serveMatchesRegistry(t *testing.T) {
	accts := append(twoTeams(),
		accounts.Account{Account: config.Account{Name: "alpha", Timeout: time.Second, Labels: map[string]string{"env": "dev", "zone": "eu"}, LowCreditsThreshold: 1}, Identity: "k3", API: failingAPI{}},
		accounts.Account{Account: config.Account{Name: "zeta", Timeout: time.Second, LowCreditsThreshold: 7, DailyBudget: 3}, Identity: "k4", API: answeringAPI{}},
	)
	exp := New(accts, Options{Scrapers: []Scraper{Usage}})
	exp.WithContext(context.Background()).Collect(make(chan prometheus.Metric, 1000)) // a first scrape: counters move
	ch := make(chan prometheus.Metric, 1000)
	// As the encoder gets them: the counters by reason as counterSets,
	// which the registry gets one series at a time (expanded).
	exp.WithContext(context.Background()).(scoped).collectSets(ch)
	close(ch)
	var scrape replay
	for m := range ch {
		scrape = append(scrape, m)
	}
	// And the histogram of an endpoint not called yet, which every
	// scrape shares.
	never, _ := labelSet(nil, nil, &dto.LabelPair{Name: new("account"), Value: new("never")}, sharedPair("endpoint", "balance"))
	scrape = append(scrape, &histogramSample{desc: callDurationDesc, labels: never})

	own := prometheus.NewRegistry()
	for _, name := range []string{"aaa_own", "sunor_exporter_own", "zzz_own"} {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "Own " + name + "."}, []string{"x"})
		g.WithLabelValues("b").Set(2)
		g.WithLabelValues("a").Set(1)
		own.MustRegister(g)
	}
	o := HandlerOpts{Own: own}
	registryWay := func(w http.ResponseWriter, r *http.Request) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(expanded(scrape))
		promhttp.HandlerFor(prometheus.Gatherers{own, reg}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true}).ServeHTTP(w, r)
	}
	ours := func(w http.ResponseWriter, r *http.Request) { encode(w, r, scrape, o) }

	get := func(h http.HandlerFunc, target string, header http.Header) (string, http.Header) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", target, nil)
		req.Header = header
		h(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
		var body io.Reader = rec.Body
		switch rec.Header().Get("Content-Encoding") {
		case "gzip":
			zr, err := gzip.NewReader(body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		case "zstd":
			zr, err := zstd.NewReader(body)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), rec.Header()
	}
	for _, tc := range []struct {
		name, target string
		header       http.Header
	}{
		{"no headers", "/metrics", http.Header{}},
		{"like Prometheus", "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"}, "Accept-Encoding": {"gzip"}}},
		{"text 0.0.4", "/metrics", http.Header{"Accept": {"text/plain;version=0.0.4"}}},
		{"protobuf", "/metrics", http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}}},
		{"zstd", "/metrics", http.Header{"Accept-Encoding": {"zstd"}}},
		{"gzip refused", "/metrics", http.Header{"Accept-Encoding": {"gzip;q=0, identity"}}},
		{"name filter", "/metrics?name[]=sunor_api_up&name[]=zzz_own", http.Header{}},
		{"OpenMetrics 1.0", "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}}},
		{"OpenMetrics 0.0.1", "/metrics", http.Header{"Accept": {"application/openmetrics-text"}}},
		{"OpenMetrics gzip", "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {"gzip"}}},
		{"OpenMetrics zstd", "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {"zstd"}}},
		{"OpenMetrics name filter", "/metrics?name[]=sunor_api_requests_total&name[]=zzz_own", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}}},
		{"Prometheus without protobuf", "/metrics", http.Header{"Accept": {prometheusTextAccept}, "Accept-Encoding": {"gzip"}}},
		{"Prometheus with protobuf", "/metrics", http.Header{"Accept": {prometheusProtobufAccept}, "Accept-Encoding": {"gzip"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantHeader := get(registryWay, tc.target, tc.header)
			got, gotHeader := get(ours, tc.target, tc.header)
			if got != want {
				t.Errorf("body differs from the registry's:\n--- got\n%s\n--- want\n%s", got, want)
			}
			if len(want) < 100 {
				t.Errorf("the registry's body is too short to compare: %q", want)
			}
			for _, k := range []string{"Content-Type", "Content-Encoding", "Vary"} {
				if g, w := gotHeader.Values(k), wantHeader.Values(k); !bytes.Equal([]byte(join(g)), []byte(join(w))) {
					t.Errorf("%s: got %q, want %q", k, g, w)
				}
			}
		})
	}
}

func join(v []string) string {
	var b bytes.Buffer
	for _, s := range v {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// TestMetricsHandlerReservesEncodingTime: a scrape's calls give up early
// enough to leave twice the time the last scrape took to encode, on top of
// the offset, and a scrape records its own encoding time.
func TestMetricsHandlerReservesEncodingTime(t *testing.T) {
	api := &blockingAPI{block: make(chan struct{})}
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: 10 * time.Second}, API: api}}, Options{})
	h := &metricsHandler{e: exp, o: HandlerOpts{TimeoutOffset: 500 * time.Millisecond}}
	h.encoding.Store(int64(2 * time.Second))
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "6")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body)
	}
	// 6 s less 0.5 s less 2 × 2 s: 1.5 s, where the offset alone left
	// 5.5 s. (Above the second a call started for a scrape always gets.)
	api.mu.Lock()
	given := api.given
	api.mu.Unlock()
	if len(given) != 1 || given[0] < 1200*time.Millisecond || given[0] > 4*time.Second {
		t.Errorf("the call was abandoned after %v, want about 1.5 s (6 s less 0.5 s offset less 4 s reserved)", given)
	}
	if got := time.Duration(h.encoding.Load()); got <= 0 || got >= time.Second {
		t.Errorf("recorded encoding time %s, want this scrape's own (above 0, far under the 2 s before)", got)
	}
}

// TestEncodeStopsWhenClientGone: once the client has gone (Prometheus gave
// up at its timeout), a scrape writes no more families, so that it does
// not run on into the next scrape, and reports that it did not finish.
func TestEncodeStopsWhenClientGone(t *testing.T) {
	exp := New(twoTeams(), Options{Scrapers: []Scraper{Usage}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/metrics", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	enc := encode(rec, req, exp.WithContext(context.Background()), HandlerOpts{})
	if enc.written == 0 || enc.written >= enc.series {
		t.Errorf("encode wrote %d of %d series to a client that was gone, want some (the first family) and not all", enc.written, enc.series)
	}
	if n := strings.Count(rec.Body.String(), "# TYPE "); n != 1 {
		t.Errorf("%d families written after the client had gone, want 1 (the one being written when it was noticed):\n%s", n, rec.Body)
	}
}

// TestEncodeStopsBetweenChunks: a client gone is noticed between the
// chunks of one family too, and the series counted as done with are those
// of the chunks written, so that the next scrape's estimate of the time to
// encode (took × series / written) is not cut short.
func TestEncodeStopsBetweenChunks(t *testing.T) {
	defer func(was int) { chunkSize = was }(chunkSize)
	chunkSize = 3
	exp := New(twoTeams(), Options{Scrapers: []Scraper{Usage}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, accept := range []string{"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"} {
		req := httptest.NewRequest("GET", "/metrics", nil).WithContext(ctx)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		enc := encode(rec, req, exp.WithContext(context.Background()), HandlerOpts{})
		// The first family, sunor_api_call_duration_seconds, has a
		// histogram per account and endpoint: 4, in two chunks.
		if enc.written != 3 {
			t.Errorf("%s: %d series counted as written to a client that was gone, want 3 (the first chunk of the first family)", accept, enc.written)
		}
		if accept[0] == 't' {
			if n := strings.Count(rec.Body.String(), "_count{"); n != 3 {
				t.Errorf("%s: %d histograms written, want 3 (one chunk):\n%s", accept, n, rec.Body)
			}
		}
	}
}

// The Accept headers of Debian's Prometheus 2.42, as it sent them to a
// recording target: by default (scrape without protobuf), and with
// --enable-feature=native-histograms (protobuf first).
const (
	prometheusTextAccept     = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	prometheusProtobufAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

// TestServeOpenMetrics: a Prometheus that does not scrape protobuf gets
// OpenMetrics 1.0, with its content type, counters named as OpenMetrics
// names them (the family without _total, each sample with it), no
// _created line (promhttp writes none unless asked) and the closing
// # EOF; one that scrapes protobuf gets protobuf; a client that asks for
// nothing in particular gets the classic text format, as before.
func TestServeOpenMetrics(t *testing.T) {
	exp := New(twoTeams(), Options{Scrapers: []Scraper{Usage}})
	serve := func(accept string) (string, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		encode(rec, req, exp.WithContext(context.Background()), HandlerOpts{})
		return rec.Header().Get("Content-Type"), rec.Body.String()
	}

	ct, body := serve(prometheusTextAccept)
	if want := "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"; ct != want {
		t.Errorf("Content-Type for Prometheus without protobuf: %q, want %q", ct, want)
	}
	if !strings.HasSuffix(body, "\n# EOF\n") {
		t.Errorf("OpenMetrics body does not end with # EOF:\n%s", body)
	}
	for _, want := range []string{
		"# TYPE sunor_api_requests counter\n",
		"\nsunor_api_requests_total{account=\"video\",endpoint=\"balance\",team=\"video\"} 1.0\n",
		"# TYPE sunor_credits_available gauge\n",
		"# TYPE sunor_api_call_duration_seconds histogram\n",
		"\nsunor_api_call_duration_seconds_bucket{account=\"video\",endpoint=\"usage\",team=\"video\",le=\"+Inf\"} 1\n",
		"\nsunor_api_call_duration_seconds_count{account=\"video\",endpoint=\"usage\",team=\"video\"} 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("OpenMetrics body lacks %q:\n%s", want, body)
		}
	}
	if regexp.MustCompile(`(?m)^[a-z_]+_created[{ ]`).MatchString(body) {
		t.Errorf("OpenMetrics body has a _created line, which promhttp does not write by default:\n%s", body)
	}

	ct, body = serve(prometheusProtobufAccept)
	if !strings.HasPrefix(ct, "application/vnd.google.protobuf;") {
		t.Errorf("Content-Type for Prometheus with protobuf: %q, want protobuf", ct)
	}
	// The histogram is native there: its schema and zero threshold and
	// the buckets the calls fell in, next to the classic buckets.
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	natives := 0
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			break
		}
		for _, m := range mf.Metric {
			if h := m.GetHistogram(); mf.GetName() == "sunor_api_call_duration_seconds" &&
				h.GetSchema() == 3 && h.GetZeroThreshold() > 0 && len(h.GetPositiveDelta()) > 0 && len(h.GetBucket()) == 8 {
				natives++
			}
		}
	}
	if natives != 4 {
		t.Errorf("%d native histograms with classic buckets in the protobuf answer, want 4 (2 accounts, 2 endpoints)", natives)
	}
	if ct, body := serve(""); !strings.HasPrefix(ct, "text/plain; version=0.0.4") || strings.Contains(body, "# EOF") {
		t.Errorf("Content-Type with no Accept header: %q, want the classic text format", ct)
	}
}

// TestRealPrometheusScrapes: Debian's Prometheus scrapes the exporter and
// stores what it meant: by default it asks for OpenMetrics and gets it
// (counters under their names, the histogram's classic buckets); with
// native histograms on it asks for protobuf and stores the histogram as
// a native one, which histogram_quantile reads.
func TestRealPrometheusScrapes(t *testing.T) {
	bin := testtool.Path(t, "prometheus", "prometheus")
	exp := New(twoTeams(), Options{Scrapers: []Scraper{Usage}})
	served := make(chan string, 100) // the Content-Type of each scrape
	h := MetricsHandler(exp, HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case served <- w.Header().Get("Content-Type"):
		default:
		}
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, flag, contentType string
		queries                 []string
	}{
		{"default", "", "application/openmetrics-text; version=1.0.0", []string{
			`sunor_api_call_duration_seconds_bucket{account="video",endpoint="balance",le="+Inf",team="video"} >= 1`,
			`sunor_api_call_duration_seconds_count{account="video",endpoint="usage"} >= 1`,
			`sunor_api_requests_total{account="music-prod",endpoint="balance",team="music",env="prod"} >= 1`,
		}},
		{"native histograms", "--enable-feature=native-histograms", "application/vnd.google.protobuf", []string{
			`histogram_count(sunor_api_call_duration_seconds{account="video",endpoint="balance"}) >= 1`,
			`histogram_quantile(0.99, sunor_api_call_duration_seconds{account="video",endpoint="balance"}) > 0`,
			`absent(sunor_api_call_duration_seconds_bucket)`, // native only
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: sunor\n    static_configs: [{targets: ['" + strings.TrimPrefix(srv.URL, "http://") + "']}]\n"
			if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			args := []string{"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			p := testtool.Start(t, exec.Command(bin, args...))
			defer p.Stop(10 * time.Second)

			deadline := time.After(60 * time.Second)
			for {
				select {
				case ct := <-served:
					if !strings.HasPrefix(ct, tc.contentType) {
						continue // the other server's scrape, or one from before
					}
				case <-deadline:
					t.Fatalf("no scrape answered with %s within 60 s; Prometheus said:\n%s", tc.contentType, p.Out)
				}
				break
			}
			for _, q := range tc.queries {
				var last string
				ok := false
				for end := time.Now().Add(30 * time.Second); !ok && time.Now().Before(end); {
					last = promQuery(t, addr, q)
					ok = strings.Contains(last, `"result":[{`)
					if !ok {
						select {
						case <-served: // the next scrape
						case <-time.After(2 * time.Second):
						}
					}
				}
				if !ok {
					t.Errorf("%s: no result; last answer %s\nPrometheus said:\n%s", q, last, p.Out)
				}
			}
		})
	}
}

func promQuery(t *testing.T, addr, q string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, body, err := testtool.Request(ctx, "GET", "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return err.Error()
	}
	return body
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
