package collector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

var hostileValues = []string{"", "a\nb", `q"uote`, `back\slash`, "ü日本\u2028", "# HELP x", "\\n", "end\\", "tab\tx", "\x00nul", "{}=,"}

// hostileScrape: families of n series each (a gauge, a counter, a
// counterSet and a histogram with classic and native buckets) with label
// values and HELP texts that need escaping, or look like comments.
func hostileScrape(n int) replay {
	g := prometheus.NewDesc("rv_gauge", "gauge help\nwith \\ newline \"q\" ü", []string{"a", "b"}, nil)
	c := prometheus.NewDesc("rv_things_total", "counter\\help", []string{"a", "b"}, nil)
	cs := prometheus.NewDesc("rv_set_total", "set", []string{"a", "reason"}, nil)
	hd := prometheus.NewDesc("rv_seconds", "hist\nhelp", []string{"a", "b"}, nil)
	var out replay
	pair := func(name, v string) *dto.LabelPair { return &dto.LabelPair{Name: new(name), Value: new(v)} }
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s%d", hostileValues[i%len(hostileValues)], i/len(hostileValues))
		labels := []*dto.LabelPair{pair("a", v), pair("b", hostileValues[(i*7)%len(hostileValues)])}
		out = append(out, &sample{desc: g, labels: labels, typ: prometheus.GaugeValue, value: float64(i) / 3})
		out = append(out, &sample{desc: c, labels: labels, typ: prometheus.CounterValue, value: float64(i % 3)})
		h := &callHistogram{}
		for k := 0; k < i%5; k++ {
			h.observe(time.Duration(k*k*37+i) * time.Millisecond)
		}
		out = append(out, &histogramSample{desc: hd, labels: labels, counts: h.snapshot()})
	}
	// counterSet: n series in sets of 2 reasons.
	for i := 0; i < (n+1)/2; i++ {
		v := fmt.Sprintf("%s%d", hostileValues[(i*3)%len(hostileValues)], i)
		set := &counterSet{desc: cs, stride: 2, labels: []*dto.LabelPair{pair("a", v), pair("reason", "x\ny"), pair("a", v), pair("reason", `r"2`)}, values: []float64{0, float64(i)}}
		out = append(out, set)
	}
	return out
}

// TestChunksMatchPromhttp: a family written a chunk at a time is, byte for
// byte, what promhttp writes of it whole, in every format and escaping,
// with hostile label values, at and around the chunk's size, with and
// without the name[] filter.
func TestChunksMatchPromhttp(t *testing.T) {
	accepts := map[string]string{
		"text":          "text/plain;version=0.0.4",
		"text utf8":     "text/plain;version=1.0.0;escaping=allow-utf-8",
		"text under":    "text/plain;version=1.0.0;escaping=underscores",
		"om1":           "application/openmetrics-text;version=1.0.0",
		"om001":         "application/openmetrics-text",
		"om dots":       "application/openmetrics-text;version=1.0.0;escaping=dots",
		"proto":         "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"proto utf8":    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8",
		"proto text":    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
		"proto compact": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
	}
	for _, cs := range []int{3, 1024} {
		for _, n := range []int{1, 2, 3, 4, 6, 7, 1023, 1024, 1025, 2048, 2049} {
			if cs == 3 && n > 7 {
				continue
			}
			scrape := hostileScrape(n)
			for name, acc := range accepts {
				t.Run(fmt.Sprintf("chunk%d/n%d/%s", cs, n, name), func(t *testing.T) {
					defer func(was int) { chunkSize = was }(chunkSize)
					chunkSize = cs
					do := func(h http.HandlerFunc, target string) string {
						rec := httptest.NewRecorder()
						req := httptest.NewRequest("GET", target, nil)
						req.Header.Set("Accept", acc)
						h(rec, req)
						return rec.Body.String()
					}
					reg := func(w http.ResponseWriter, r *http.Request) {
						reg := prometheus.NewRegistry()
						reg.MustRegister(expanded(scrape))
						promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true}).ServeHTTP(w, r)
					}
					ours := func(w http.ResponseWriter, r *http.Request) { encode(w, r, scrape, HandlerOpts{}) }
					for _, target := range []string{"/metrics", "/metrics?name[]=rv_seconds&name[]=rv_set_total"} {
						want, got := do(reg, target), do(ours, target)
						if len(want) < 200 {
							t.Errorf("promhttp's answer is too short to compare: %d bytes", len(want))
						}
						if want != got {
							i := 0
							for i < len(want) && i < len(got) && want[i] == got[i] {
								i++
							}
							t.Errorf("%s: differs at byte %d of %d/%d: want %q got %q", target, i, len(want), len(got), want[max(0, i-80):min(len(want), i+80)], got[max(0, i-80):min(len(got), i+80)])
						}
					}
				})
			}
		}
	}
}

// TestCommentSkipper: a chunk after the first loses its family's comment
// lines however the encoder's writes split them, and nothing else.
func TestCommentSkipper(t *testing.T) {
	const in = "# HELP x_total Help with # and \\n.\n# TYPE x_total counter\n# UNIT x_total seconds\nx_total{a=\"#\"} 1\n{\"x.y\"} 2\n"
	const want = "x_total{a=\"#\"} 1\n{\"x.y\"} 2\n"
	for _, size := range []int{1, 2, 3, 7, len(in)} {
		var out strings.Builder
		w := &commentSkipper{w: &out}
		for p := in; p != ""; {
			n := min(size, len(p))
			if m, err := w.Write([]byte(p[:n])); m != n || err != nil {
				t.Fatalf("writes of %d: Write returned %d, %v", size, m, err)
			}
			p = p[n:]
		}
		if out.String() != want {
			t.Errorf("writes of %d bytes: passed on %q, want %q", size, out.String(), want)
		}
	}
}
