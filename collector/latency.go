package collector

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sunor_api_call_duration_seconds: how long the API calls took, as a
// histogram per account and endpoint, for a latency SLO or a p99 that the
// gauge of the last call's duration cannot give.
//
// The histogram has both classic buckets and native-histogram fields, as a
// client_golang histogram with Buckets and NativeHistogramBucketFactor set
// writes them: a Prometheus that scrapes protobuf with native histograms
// on gets a native histogram, every other client the classic buckets (the
// text formats carry only those). A client_golang histogram per account
// and endpoint would do the counting, but it keeps two copies of its
// counts and a sync.Map entry per native bucket, several kilobytes each,
// and it cannot carry the owner labels of each account (series.go); this
// one keeps what one account's calls need and is written like the other
// series of the account. TestCallHistogramAsClientGolang checks that it
// writes what client_golang's histogram writes for the same observations.

var callDurationDesc = prometheus.NewDesc(namespace+"_api_call_duration_seconds",
	"How long the API calls with this account's key took, successful or not, retries included: one observation per call, a call shared by concurrent scrapes once. Native-histogram fields too, for a Prometheus that scrapes them.", []string{"account", "endpoint"}, nil)

// callDurationBuckets are the classic buckets' upper bounds, in seconds:
// from a fast answer up to --sunor.timeout's default, 10 s.
var callDurationBuckets = [...]float64{.05, .1, .25, .5, 1, 2.5, 5, 10}

const (
	// nativeSchema is what client_golang picks for a
	// NativeHistogramBucketFactor of 1.1: 8 buckets per power of two, each
	// about 9 % wider than the one before. Calls take from a millisecond to
	// the timeout, so an account's calls fill a few dozen buckets at most.
	nativeSchema = 3
	// nativeZeroThreshold is client_golang's default: only a call of no
	// measurable time falls in the zero bucket.
	nativeZeroThreshold = prometheus.DefNativeHistogramZeroThreshold
)

// nativeBounds are client_golang's bounds of the fraction of a value
// (math.Frexp) for schema 3 (its nativeHistogramBounds[3], not exported):
// the same bucket for the same duration.
var nativeBounds = [8]float64{
	0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
	0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
}

// Read-only values every histogram's proto points to.
var (
	nativeSchemaValue        = int32(nativeSchema)
	nativeZeroThresholdValue = float64(nativeZeroThreshold)
)

// callHistogram counts one account's calls to one endpoint. It is never
// reset: its counts are cumulative, as a histogram's are.
type callHistogram struct {
	mu      sync.Mutex
	count   uint64
	sum     float64                          // seconds
	classic [len(callDurationBuckets)]uint64 // per bucket, not cumulative
	zero    uint64                           // native zero bucket
	native  []nativeBucket                   // sorted by index
}

// nativeBucket is one populated native bucket.
type nativeBucket struct {
	index int32
	count uint64
}

// observe counts one call that took d.
func (h *callHistogram) observe(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	h.sum += v
	if i := sort.SearchFloat64s(callDurationBuckets[:], v); i < len(h.classic) {
		h.classic[i]++ // the first bucket whose bound is >= v
	}
	if v <= nativeZeroThreshold {
		h.zero++
		return
	}
	k := nativeIndex(v)
	i, found := slices.BinarySearchFunc(h.native, k, func(b nativeBucket, k int32) int { return int(b.index - k) })
	if !found {
		h.native = slices.Insert(h.native, i, nativeBucket{index: k})
	}
	h.native[i].count++
}

// nativeIndex is the index of the native bucket of v > 0 at nativeSchema,
// as client_golang computes it: the bucket with upper bound
// 2^(index/2^schema), bounds included.
func nativeIndex(v float64) int32 {
	frac, exp := math.Frexp(v)
	return int32(sort.SearchFloat64s(nativeBounds[:], frac) + (exp-1)*len(nativeBounds))
}

// histogramProto holds the proto of one histogram series and the values it
// points to, so that a family's histograms are built in one array
// (familyBuffer) rather than in a dozen allocations each.
type histogramProto struct {
	h       dto.Histogram
	buckets [len(callDurationBuckets)]*dto.Bucket
	count   uint64
	sum     float64
	zero    uint64
}

// bucketProto is one classic bucket's proto and the count it points to.
// Histograms share them: a bucket is its bound and its cumulative count,
// and the accounts' counts are mostly the same few numbers (a call every
// refresh), so a family of 20 000 histograms needs a few hundred buckets,
// not 160 000 of 72 bytes each.
type bucketProto struct {
	b     dto.Bucket
	count uint64
}

type bucketKey struct {
	bound int
	count uint64
}

// bucket returns the shared proto of the classic bucket bound with the
// cumulative count n, in b's buffers.
func (b *familyBuffer) bucket(bound int, n uint64) *dto.Bucket {
	if p, ok := b.buckets[bucketKey{bound, n}]; ok {
		return p
	}
	if b.buckets == nil {
		b.buckets = map[bucketKey]*dto.Bucket{}
	}
	if len(b.bucketStore) == cap(b.bucketStore) {
		// A new block rather than a larger copy: the protos handed out
		// stay where they are.
		b.bucketStore = make([]bucketProto, 0, 256)
	}
	b.bucketStore = b.bucketStore[:len(b.bucketStore)+1]
	p := &b.bucketStore[len(b.bucketStore)-1]
	*p = bucketProto{count: n}
	p.b = dto.Bucket{CumulativeCount: &p.count, UpperBound: &callDurationBuckets[bound]}
	b.buckets[bucketKey{bound, n}] = &p.b
	return &p.b
}

// nativeSpan holds one span of native buckets and the values it points to.
type nativeSpan struct {
	span   dto.BucketSpan
	offset int32
	length uint32
}

// histogramSample is the histogram of one account's calls to one endpoint
// in one scrape: like sample, its label pairs are the account's, shared.
type histogramSample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *callHistogram
}

func (s *histogramSample) Desc() *prometheus.Desc { return s.desc }

// Write is fill with buffers of its own, for the tests' registries.
func (s *histogramSample) Write(out *dto.Metric) error {
	b := familyBuffer{native: true}
	s.fill(out, &b)
	return nil
}

// fill writes the histogram into out, in b's buffers: what a client_golang
// histogram writes (without its created timestamp: none of the exporter's
// counters has one either), the native fields only for a format that
// carries them.
func (s *histogramSample) fill(out *dto.Metric, b *familyBuffer) {
	if len(b.histograms) == cap(b.histograms) {
		b.histograms = slices.Grow(b.histograms, max(16, cap(b.histograms)))
	}
	b.histograms = b.histograms[:len(b.histograms)+1]
	p := &b.histograms[len(b.histograms)-1]
	*p = histogramProto{}

	h := s.h
	h.mu.Lock()
	if h.count == 0 {
		h.mu.Unlock()
		out.Label = s.labels
		out.Histogram = emptyHistograms[boolIndex(b.native)]
		return
	}
	p.count, p.sum, p.zero = h.count, h.sum, h.zero
	var cum uint64
	for i := range callDurationBuckets {
		cum += h.classic[i]
		p.buckets[i] = b.bucket(i, cum)
	}
	p.h = dto.Histogram{SampleCount: &p.count, SampleSum: &p.sum, Bucket: p.buckets[:]}
	if b.native {
		p.h.Schema, p.h.ZeroThreshold, p.h.ZeroCount = &nativeSchemaValue, &nativeZeroThresholdValue, &p.zero
		p.h.PositiveSpan, p.h.PositiveDelta = b.nativeBuckets(h.native)
	}
	h.mu.Unlock()

	out.Label = s.labels
	out.Histogram = &p.h
}

// emptyHistograms are the histogram of no call yet, shared read-only as
// zeroCounter is, without and with the native fields: with thousands of
// accounts, most usage endpoints wait for their first call.
var emptyHistograms = [2]*dto.Histogram{emptyHistogram(false), emptyHistogram(true)}

func emptyHistogram(native bool) *dto.Histogram {
	h := &dto.Histogram{SampleCount: new(uint64), SampleSum: new(float64)}
	for i := range callDurationBuckets {
		h.Bucket = append(h.Bucket, &dto.Bucket{CumulativeCount: new(uint64), UpperBound: &callDurationBuckets[i]})
	}
	if native {
		h.Schema, h.ZeroThreshold, h.ZeroCount = &nativeSchemaValue, &nativeZeroThresholdValue, new(uint64)
	}
	return h
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nativeBuckets returns the spans and deltas of the populated native
// buckets, in b's buffers, as client_golang encodes them: a gap of one or
// two empty buckets stays in its span, as zero deltas; a longer gap starts
// a new span.
func (b *familyBuffer) nativeBuckets(buckets []nativeBucket) ([]*dto.BucketSpan, []int64) {
	if len(buckets) == 0 {
		return nil, nil
	}
	spanStart, deltaStart := len(b.spanPtrs), len(b.deltas)
	var prev int64
	next := int32(0)
	for n, bk := range buckets {
		gap := bk.index - next
		if n == 0 || gap > 2 {
			if len(b.spans) == cap(b.spans) {
				b.spans = slices.Grow(b.spans, max(64, cap(b.spans)))
			}
			b.spans = b.spans[:len(b.spans)+1]
			sp := &b.spans[len(b.spans)-1]
			*sp = nativeSpan{offset: gap}
			sp.span = dto.BucketSpan{Offset: &sp.offset, Length: &sp.length}
			b.spanPtrs = append(b.spanPtrs, &sp.span)
		} else {
			for range gap {
				b.deltas = append(b.deltas, -prev)
				prev = 0
				b.spans[len(b.spans)-1].length++
			}
		}
		b.deltas = append(b.deltas, int64(bk.count)-prev)
		prev = int64(bk.count)
		b.spans[len(b.spans)-1].length++
		next = bk.index + 1
	}
	return b.spanPtrs[spanStart:len(b.spanPtrs):len(b.spanPtrs)], b.deltas[deltaStart:len(b.deltas):len(b.deltas)]
}
