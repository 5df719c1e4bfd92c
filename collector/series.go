package collector

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
)

// How an account's series get its owner labels.
//
// Accounts may carry different label sets (one has team and env, another
// only team), and every series of an account carries its own set, so that
// an alert can be routed by team on /metrics and /probe alike. A checked
// collector cannot say that: its descriptors fix one set of label names per
// metric, so every account would have to carry the union of all accounts'
// names, with "" where it has none. That is valid (Prometheus drops an
// empty label), but it puts names an account does not have on its /probe,
// and a new name on one account changes every account's series on the
// wire. So the Exporter is an unchecked collector (Describe sends nothing).
// What a registry checks on every scrape is made sure of where the series
// are made: one HELP and one type per name (the descriptors here), valid
// label names (checked when the configuration is read), sorted label pairs
// without a repeated name (labelSet), no duplicate series (distinct
// account names). The handlers encode without a registry (stream.go); the
// tests gather through one, which checks all of it.
//
// The label set of every series of an account is the same from scrape to
// scrape; only the values change. It is built once, when the account is
// configured (policy), as sorted label pairs that every scrape shares, and
// a scrape only wraps each value in a sample. prometheus.NewConstMetric
// would rebuild the pairs of every series on every scrape, which is most of
// the cost of a thousand accounts' mostly-zero counters; and every counter
// at 0 shares one value, so that it costs no allocation while still being
// there, at 0, before its first increment for increase() to see.

// policy is what an account's configuration says about its series: its
// owner labels, its low-credit threshold and daily budget, and the label
// pairs of each of its series. It is immutable; a reload swaps it.
type policy struct {
	// owner are the owner labels, as configured, sorted by name: the
	// pairs every label set of the account shares, not a copy of the
	// configuration's map (labels gives one).
	owner     []*dto.LabelPair
	threshold float64
	budget    float64
	taskCost  float64

	account   []*dto.LabelPair // account and owner labels
	endpoints []endpointLabels // in the order of the account's endpoints
	size      int              // the most series one scrape sends
}

// endpointLabels are the label pairs of one endpoint's series.
type endpointLabels struct {
	endpoint  []*dto.LabelPair // account, owner labels, endpoint
	collector []*dto.LabelPair // account, owner labels, collector
	// reasons holds, one after the other, the label sets of the error
	// counters (by sunor.Reasons) and then of the skip counters (by
	// skipReasons): account, owner labels, endpoint, reason. All have the
	// same length, so that none needs a slice header of its own: with many
	// accounts these sets are most of what the labels keep in memory.
	reasons []*dto.LabelPair
	stride  int
}

func newPolicy(cfg accounts.Account, scrapers []*Scraper) *policy {
	p := &policy{
		threshold: cfg.LowCreditsThreshold,
		budget:    cfg.DailyBudget,
		taskCost:  cfg.TaskCost,
	}
	owner := make([]*dto.LabelPair, 0, len(cfg.Labels))
	for k, v := range cfg.Labels {
		owner = append(owner, &dto.LabelPair{Name: new(k), Value: new(v)})
	}
	slices.SortFunc(owner, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetName(), y.GetName()) })
	p.owner = owner
	account := &dto.LabelPair{Name: new("account"), Value: new(cfg.Name)}
	// Every label set of the account in one array.
	sets := 1 + len(scrapers)*(2+len(counterReasons))
	buf := make([]*dto.LabelPair, 0, sets*(len(owner)+3))
	p.account, buf = labelSet(buf, owner, account)
	p.size = 2 + 3 + 3 // up, last success; rate limit; threshold, budget, task cost
	for _, s := range scrapers {
		name := s.Name()
		endpoint := sharedPair("endpoint", name)
		var el endpointLabels
		el.endpoint, buf = labelSet(buf, owner, account, endpoint)
		el.collector, buf = labelSet(buf, owner, account, sharedPair("collector", name))
		start := len(buf)
		for _, r := range counterReasons {
			var set []*dto.LabelPair
			set, buf = labelSet(buf, owner, account, endpoint, sharedPair("reason", r))
			el.stride = len(set)
		}
		el.reasons = buf[start:len(buf):len(buf)]
		p.endpoints = append(p.endpoints, el)
		p.size += len(s.Series) + 4 // the counters by reason are a counterSet
	}
	return p
}

// same reports whether cfg would build the same policy. The account's
// name is not compared: an account is kept by a reload only under its own
// name (see SetAccounts), so it never differs.
func (p *policy) same(cfg accounts.Account) bool {
	return p.threshold == cfg.LowCreditsThreshold && p.budget == cfg.DailyBudget && p.taskCost == cfg.TaskCost &&
		p.sameLabels(cfg.Labels)
}

// sameLabels reports whether labels are the owner labels.
func (p *policy) sameLabels(labels map[string]string) bool {
	if len(labels) != len(p.owner) {
		return false
	}
	for _, lp := range p.owner {
		if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

// labels returns the owner labels as a map of the caller's own.
func (p *policy) labels() map[string]string {
	m := make(map[string]string, len(p.owner))
	for _, lp := range p.owner {
		m[lp.GetName()] = lp.GetValue()
	}
	return m
}

// labelSet appends to buf the series' own pairs and the owner labels,
// sorted by name, and returns them and buf. Where an owner label has the
// name of one of the series' own labels, the series' own wins: the label
// names are checked when the configuration is read, and this only keeps a
// name the check let through from making the series invalid.
func labelSet(buf, owner []*dto.LabelPair, own ...*dto.LabelPair) (set, rest []*dto.LabelPair) {
	start := len(buf)
	buf = append(append(buf, own...), owner...)
	all := buf[start:]
	slices.SortStableFunc(all, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetName(), y.GetName()) })
	all = slices.CompactFunc(all, func(x, y *dto.LabelPair) bool { return x.GetName() == y.GetName() })
	buf = buf[:start+len(all)]
	return buf[start:len(buf):len(buf)], buf
}

// sharedPairs are the label pairs that are the same for every account:
// endpoint, collector and reason. Their values come from a fixed set.
var sharedPairs sync.Map // labelPair -> *dto.LabelPair

type labelPair struct{ name, value string }

func sharedPair(name, value string) *dto.LabelPair {
	if p, ok := sharedPairs.Load(labelPair{name, value}); ok {
		return p.(*dto.LabelPair)
	}
	p, _ := sharedPairs.LoadOrStore(labelPair{name, value}, &dto.LabelPair{Name: new(name), Value: new(value)})
	return p.(*dto.LabelPair)
}

// sample is one series of one scrape. Its label pairs belong to the
// account's policy and are shared, read-only, by every scrape, as a
// descriptor's constant labels are in client_golang.
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	typ    prometheus.ValueType
	value  float64
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

// Write is fill without buffers, for the tests' registries.
func (s *sample) Write(out *dto.Metric) error {
	s.fill(out, nil)
	return nil
}

// fill writes s into the buffers of one family's encoding (stream.go), no
// allocation per series; with b nil, each value proto is allocated.
func (s *sample) fill(out *dto.Metric, b *familyBuffer) {
	fillValue(out, s.labels, s.typ, &s.value, b)
}

// fillValue writes one series of the labels, the type and the value *v,
// which the proto points to: in b's buffers, or in protos of its own when
// b is nil.
func fillValue(out *dto.Metric, labels []*dto.LabelPair, typ prometheus.ValueType, v *float64, b *familyBuffer) {
	out.Label = labels
	switch {
	case typ == prometheus.CounterValue && *v == 0:
		out.Counter = zeroCounter
	case typ == prometheus.CounterValue && b == nil:
		out.Counter = &dto.Counter{Value: v}
	case typ == prometheus.CounterValue:
		out.Counter = b.counter(v)
	case b == nil:
		out.Gauge = &dto.Gauge{Value: v}
	default:
		out.Gauge = b.gauge(v)
	}
}

// counterSet is one endpoint's error counters (sunor_api_errors_total) or
// its skip counters (sunor_api_calls_skipped_total) in one scrape, a series
// per reason: values[k] with the label set labels[k*stride:(k+1)*stride].
// They are most of an account's series, and mostly 0: a sample each would
// be 48 bytes a series alive until the scrape is written, 12 MB at 10 000
// accounts. The streaming encoder writes the series of a set (fill); a
// registry gets them one by one (expand).
type counterSet struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	stride int
	values []float64
}

// Desc and Write make a set a prometheus.Metric on its way to the encoder:
// Write is its first series, from which the family's name, help and type
// are read (familyProto).
func (c *counterSet) Desc() *prometheus.Desc { return c.desc }

func (c *counterSet) Write(out *dto.Metric) error {
	c.fill(out, 0, nil)
	return nil
}

// fill writes the series of values[k] into b, as sample.fill does.
func (c *counterSet) fill(out *dto.Metric, k int, b *familyBuffer) {
	fillValue(out, c.seriesLabels(k), prometheus.CounterValue, &c.values[k], b)
}

func (c *counterSet) seriesLabels(k int) []*dto.LabelPair {
	end := (k + 1) * c.stride
	return c.labels[k*c.stride : end : end]
}

// expand sends m to ch, a counterSet as a sample per series: what a
// registry gathers.
func expand(m prometheus.Metric, ch chan<- prometheus.Metric) {
	c, ok := m.(*counterSet)
	if !ok {
		ch <- m
		return
	}
	out := make([]sample, len(c.values))
	for k := range out {
		out[k] = sample{desc: c.desc, labels: c.seriesLabels(k), typ: prometheus.CounterValue, value: c.values[k]}
		ch <- &out[k]
	}
}

// expanding is a collector's series as a registry gathers them (expand).
func expanding(collect func(chan<- prometheus.Metric), ch chan<- prometheus.Metric) {
	sets := make(chan prometheus.Metric, 64)
	go func() {
		defer close(sets)
		collect(sets)
	}()
	for m := range sets {
		expand(m, ch)
	}
}

// histogramSample is the histogram of one account's calls to one endpoint
// in one scrape, its counts read when the scrape collected: like sample, its
// label pairs are the account's, shared.
type histogramSample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	counts histogramCounts
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
	p := grow(&b.histograms, 16)

	h := &s.counts
	if h.count == 0 {
		out.Label = s.labels
		out.Histogram = emptyHistograms[boolIndex(b.native)]
		return
	}
	p.count, p.sum, p.zero = h.count, h.sum, h.zero
	var cum uint64
	for i := range callDurationBuckets {
		cum += h.classic[i]
		p.counts[i] = cum
		p.bucket[i] = dto.Bucket{CumulativeCount: &p.counts[i], UpperBound: &callDurationBuckets[i]}
		p.buckets[i] = &p.bucket[i]
	}
	p.h = dto.Histogram{SampleCount: &p.count, SampleSum: &p.sum, Bucket: p.buckets[:]}
	if b.native {
		p.h.Schema, p.h.ZeroThreshold, p.h.ZeroCount = &nativeSchemaValue, &nativeZeroThresholdValue, &p.zero
		p.h.PositiveSpan, p.h.PositiveDelta = b.nativeBuckets(h.native)
	}

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
