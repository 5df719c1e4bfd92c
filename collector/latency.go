package collector

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Read-only: every histogram's proto points to them.
var (
	// nativeSchemaValue is what client_golang picks for a
	// NativeHistogramBucketFactor of 1.1: 8 buckets per power of two, each
	// about 9 % wider than the one before. Calls take from a millisecond to
	// the timeout, so an account's calls fill a few dozen buckets at most.
	nativeSchemaValue = int32(3)
	// nativeZeroThresholdValue is client_golang's default: only a call of
	// no measurable time falls in the zero bucket.
	nativeZeroThresholdValue = prometheus.DefNativeHistogramZeroThreshold
)

// nativeBounds are client_golang's bounds of the fraction of a value
// (math.Frexp) for schema 3 (its nativeHistogramBounds[3], not exported):
// the same bucket for the same duration.
var nativeBounds = [8]float64{
	0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
	0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
}

// callHistogram counts one account's calls to one endpoint. It is never
// reset: its counts are cumulative, as a histogram's are.
type callHistogram struct {
	mu sync.Mutex
	histogramCounts
}

// histogramCounts are the counts of a callHistogram: its own, or a
// scrape's copy of them (snapshot).
type histogramCounts struct {
	count   uint64
	sum     float64                          // seconds
	classic [len(callDurationBuckets)]uint64 // per bucket, not cumulative
	zero    uint64                           // native zero bucket
	native  []nativeBucket                   // sorted by index
}

// snapshot returns a copy of the counts for one scrape, which reads every
// value once, when it collects: a family in delimited protobuf is sized in
// one pass over its series and written in another (stream.go), and a call
// that ended between the two would make the length wrong and the answer
// undecodable.
func (h *callHistogram) snapshot() histogramCounts {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.histogramCounts
	c.native = slices.Clone(h.native)
	return c
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
	if v <= nativeZeroThresholdValue {
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

// nativeIndex is the index of the native bucket of v > 0 at schema 3,
// as client_golang computes it: the bucket with upper bound
// 2^(index/2^schema), bounds included.
func nativeIndex(v float64) int32 {
	frac, exp := math.Frexp(v)
	return int32(sort.SearchFloat64s(nativeBounds[:], frac) + (exp-1)*len(nativeBounds))
}
