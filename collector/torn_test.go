package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// observingWriter is a client whose first write comes while an API call
// ends (a queued or late call finishes during the encoding, as they do
// with many accounts): it observes calls on every histogram.
type observingWriter struct {
	*httptest.ResponseRecorder
	hists []*callHistogram
	done  bool
}

func (w *observingWriter) Write(p []byte) (int, error) {
	if !w.done && bytes.Contains(p, []byte("sunor_api_call_duration_seconds")) {
		w.done = true
		for _, h := range w.hists {
			// Counts past 127 take a byte more: in a bucket the
			// histogram has, and in a new one.
			for range 200 {
				h.observe(20 * time.Millisecond)
			}
			h.observe(300 * time.Millisecond)
		}
	}
	return w.ResponseRecorder.Write(p)
}

// TestProtoLengthMatchesBody: a delimited family larger than a chunk is
// sized in one pass and marshalled in a second; a call that ends between
// the two (a late or queued call, as many accounts have) must not change
// what the second writes, or the length is wrong and the whole answer
// undecodable. A scrape's histograms are the counts it collected.
func TestProtoLengthMatchesBody(t *testing.T) {
	for _, cs := range []int{3, 1024} {
		t.Run(fmt.Sprint("chunk", cs), func(t *testing.T) {
			defer func(was int) { chunkSize = was }(chunkSize)
			chunkSize = cs
			n := 2*cs + 1
			var scrape replay
			var hists []*callHistogram
			for i := 0; i < n; i++ {
				h := &callHistogram{}
				h.observe(20 * time.Millisecond)
				hists = append(hists, h)
				labels := []*dto.LabelPair{{Name: new("account"), Value: new(fmt.Sprint("a", i))}, sharedPair("endpoint", "balance")}
				scrape = append(scrape, &histogramSample{desc: callDurationDesc, labels: labels, counts: h.snapshot()})
			}
			g := prometheus.NewDesc("aaa_gauge", "g", nil, nil)
			scrape = append(scrape, &sample{desc: g, typ: prometheus.GaugeValue, value: 1})
			w := &observingWriter{ResponseRecorder: httptest.NewRecorder(), hists: hists}
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
			encode(w, req, scrape, HandlerOpts{})
			if !w.done {
				t.Fatal("no write of the histogram family")
			}
			dec := expfmt.NewDecoder(bytes.NewReader(w.Body.Bytes()), expfmt.NewFormat(expfmt.TypeProtoDelim))
			var got []string
			for {
				var mf dto.MetricFamily
				err := dec.Decode(&mf)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("the body does not decode after %v: %v", got, err)
				}
				got = append(got, fmt.Sprint(mf.GetName(), "/", len(mf.Metric)))
			}
			want := []string{"aaa_gauge/1", fmt.Sprint("sunor_api_call_duration_seconds/", n)}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("decoded %v, want %v", got, want)
			}
		})
	}
}
