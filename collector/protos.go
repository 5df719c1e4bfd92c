package collector

import (
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// The protos a family is built in (stream.go), a chunk at a time, reused
// from chunk to chunk: what sample, counterSet and histogramSample fill.

// familyBuffer holds the protos of one chunk of a family, reused by the
// next.
type familyBuffer struct {
	refs     []seriesRef // the family's series, sorted
	out      []byte      // a protobuf piece's encoding (writeFamily)
	mf       dto.MetricFamily
	metrics  []dto.Metric
	ptrs     []*dto.Metric
	gauges   []dto.Gauge
	counters []dto.Counter
	// native: fill the native-histogram fields; the text formats
	// (classic, OpenMetrics 1.0) have no place for them.
	native bool
	// The histograms' protos and their native buckets (latency.go).
	histograms []histogramProto
	spans      []nativeSpan
	spanPtrs   []*dto.BucketSpan
	deltas     []int64
}

// seriesRef is one series of a family: f.samples[src], else
// f.hists[src-len(f.samples)], else series k of the counterSet after them.
type seriesRef struct {
	labels []*dto.LabelPair
	src, k int32
}

// gauge and counter return a value proto from b's buffers.
func (b *familyBuffer) gauge(v *float64) *dto.Gauge {
	g := grow(&b.gauges, 64)
	g.Value = v
	return g
}

func (b *familyBuffer) counter(v *float64) *dto.Counter {
	c := grow(&b.counters, 64)
	c.Value = v
	return c
}

// grow adds a zero element to *buf and returns it. A full buffer grows by
// its size, at least block elements, into a new array: the elements handed
// out stay where they are.
func grow[T any](buf *[]T, block int) *T {
	if len(*buf) == cap(*buf) {
		*buf = slices.Grow(*buf, max(block, cap(*buf)))
	}
	*buf = (*buf)[:len(*buf)+1]
	p := &(*buf)[len(*buf)-1]
	var zero T
	*p = zero
	return p
}

// zeroCounter is the value of every counter at 0, shared read-only.
var zeroCounter = &dto.Counter{Value: new(0.0)}

// histogramProto holds the proto of one histogram series and the values it
// points to, so that a chunk's histograms are built in one array
// (familyBuffer) rather than in a dozen allocations each.
type histogramProto struct {
	h       dto.Histogram
	buckets [len(callDurationBuckets)]*dto.Bucket
	bucket  [len(callDurationBuckets)]dto.Bucket
	counts  [len(callDurationBuckets)]uint64
	count   uint64
	sum     float64
	zero    uint64
}

// nativeSpan holds one span of native buckets and the values it points to.
type nativeSpan struct {
	span   dto.BucketSpan
	offset int32
	length uint32
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
			sp := grow(&b.spans, 64)
			sp.offset = gap
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
