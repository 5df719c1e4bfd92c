package collector

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
)

// histogramFields is what a scraper reads of a histogram proto.
type histogramFields struct {
	Count, ZeroCount uint64
	Sum, ZeroThresh  float64
	Schema           int32
	Buckets          []string // upper bound: cumulative count
	Spans            []string // offset/length
	Deltas           []int64
	Negative         int
}

func fieldsOf(h *dto.Histogram) histogramFields {
	f := histogramFields{Count: h.GetSampleCount(), Sum: h.GetSampleSum(), Schema: h.GetSchema(),
		ZeroThresh: h.GetZeroThreshold(), ZeroCount: h.GetZeroCount(), Deltas: h.GetPositiveDelta(),
		Negative: len(h.GetNegativeSpan()) + len(h.GetNegativeDelta())}
	for _, b := range h.GetBucket() {
		f.Buckets = append(f.Buckets, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	for _, s := range h.GetPositiveSpan() {
		f.Spans = append(f.Spans, fmt.Sprintf("%d/%d", s.GetOffset(), s.GetLength()))
	}
	return f
}

// TestCallHistogramAsClientGolang: for the same call durations, the
// histogram writes what client_golang's histogram with the same classic
// buckets and NativeHistogramBucketFactor 1.1 writes: count, sum, classic
// buckets, and the native schema, zero bucket, spans and deltas that a
// Prometheus scraping native histograms reads. The durations sit on
// classic and native bucket bounds, below the zero threshold, above the
// last bucket, and leave gaps of one, two and more native buckets.
func TestCallHistogramAsClientGolang(t *testing.T) {
	for name, durations := range map[string][]time.Duration{
		"none":      nil,
		"zero":      {0, 0},
		"one":       {300 * time.Millisecond},
		"bounds":    {50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second},
		"powers":    {time.Second / 4, time.Second / 2, 2 * time.Second, 4 * time.Second, time.Second / 1024},
		"past 10 s": {11 * time.Second, time.Minute, time.Hour},
		"gaps": {
			// 1 s is the last bucket of index 0; each factor of 2^(1/8)
			// is one bucket further.
			time.Second, 1091 * time.Millisecond, // next bucket: no gap
			1300 * time.Millisecond, // one bucket skipped
			1700 * time.Millisecond, // two skipped
			3 * time.Second,         // more: a new span
			1, 2, 3,                 // nanoseconds: far below
		},
		"repeats": {7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 80 * time.Millisecond, 80 * time.Millisecond, 7 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Help: "ref",
				Buckets: callDurationBuckets[:], NativeHistogramBucketFactor: 1.1})
			var ours callHistogram
			for _, d := range durations {
				ref.Observe(d.Seconds())
				ours.observe(d)
			}
			var want, got dto.Metric
			if err := ref.Write(&want); err != nil {
				t.Fatal(err)
			}
			if err := (&histogramSample{desc: callDurationDesc, counts: ours.snapshot()}).Write(&got); err != nil {
				t.Fatal(err)
			}
			if g, w := fieldsOf(got.Histogram), fieldsOf(want.Histogram); fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("got  %+v\nwant %+v (client_golang)", g, w)
			}
		})
	}
}

// TestCallHistogramSeries: the histogram as the text format shows it,
// with the account's owner labels and the endpoint, the classic buckets
// cumulative up to +Inf, and the sum in seconds.
func TestCallHistogramSeries(t *testing.T) {
	var h callHistogram
	for _, d := range []time.Duration{30 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 1200 * time.Millisecond, 12 * time.Second} {
		h.observe(d)
	}
	labels, _ := labelSet(nil, []*dto.LabelPair{{Name: new("team"), Value: new("music")}},
		&dto.LabelPair{Name: new("account"), Value: new("prod")}, sharedPair("endpoint", "balance"))
	c := replay{&histogramSample{desc: callDurationDesc, labels: labels, counts: h.snapshot()}}
	want := `# HELP sunor_api_call_duration_seconds ` + helpOf(callDurationDesc) + `
# TYPE sunor_api_call_duration_seconds histogram
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="0.05"} 1
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="0.1"} 1
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="0.25"} 1
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="0.5"} 3
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="1"} 3
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="2.5"} 4
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="5"} 4
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="10"} 4
sunor_api_call_duration_seconds_bucket{account="prod",endpoint="balance",team="music",le="+Inf"} 5
sunor_api_call_duration_seconds_sum{account="prod",endpoint="balance",team="music"} 13.83
sunor_api_call_duration_seconds_count{account="prod",endpoint="balance",team="music"} 5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func helpOf(d *prometheus.Desc) string {
	s := d.String()
	i := strings.Index(s, `help: "`) + len(`help: "`)
	return s[i : i+strings.Index(s[i:], `", `)]
}

// TestCallHistogramCountsEveryCall: a scrape's calls are each one
// observation in the histogram of their account and endpoint, which
// carries the same labels as the account's other per-endpoint series,
// failed calls included.
func TestCallHistogramCountsEveryCall(t *testing.T) {
	exp := New(append(twoTeams(), accounts.Account{Account: config.Account{Name: "down", Timeout: time.Second}, Identity: "k3", API: failingAPI{}}),
		Options{Scrapers: []Scraper{Usage}})
	for range 3 {
		exp.WithContext(context.Background()).Collect(make(chan prometheus.Metric, 1000))
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp.WithContext(context.Background()))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	requests := map[string]float64{}
	hists := map[string]*dto.Histogram{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := labelString(m.Label)
			switch mf.GetName() {
			case "sunor_api_requests_total":
				requests[key] = m.GetCounter().GetValue()
			case "sunor_api_call_duration_seconds":
				if mf.GetType() != dto.MetricType_HISTOGRAM {
					t.Fatalf("type %s", mf.GetType())
				}
				hists[key] = m.GetHistogram()
			}
		}
	}
	if len(hists) != 6 || len(hists) != len(requests) {
		t.Fatalf("histograms %v, want one per account and endpoint, as sunor_api_requests_total %v", hists, requests)
	}
	for key, n := range requests {
		h := hists[key]
		if h == nil {
			t.Errorf("no histogram with the labels of sunor_api_requests_total%s", key)
			continue
		}
		// Four scrapes, one call each (no cache): four observations, as
		// many as the calls counted.
		if h.GetSampleCount() != 4 || float64(h.GetSampleCount()) != n {
			t.Errorf("%s: %d observations, want 4, one per call (sunor_api_requests_total %g)", key, h.GetSampleCount(), n)
		}
		if last := h.Bucket[len(h.Bucket)-1]; last.GetUpperBound() != 10 || last.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("%s: last bucket %v of %d", key, last, h.GetSampleCount())
		}
		if h.GetSchema() != 3 || h.GetZeroThreshold() <= 0 || len(h.PositiveSpan) == 0 {
			t.Errorf("%s: native fields missing: schema %d, zero threshold %g, spans %v", key, h.GetSchema(), h.GetZeroThreshold(), h.PositiveSpan)
		}
		if math.IsNaN(h.GetSampleSum()) || h.GetSampleSum() <= 0 {
			t.Errorf("%s: sum %g", key, h.GetSampleSum())
		}
	}

}

func labelString(lps []*dto.LabelPair) string {
	var b strings.Builder
	for _, lp := range lps {
		fmt.Fprintf(&b, "%s=%q,", lp.GetName(), lp.GetValue())
	}
	return "{" + b.String() + "}"
}
