package collector

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Why a scrape is encoded here, family by family, and not by promhttp.
//
// A prometheus.Registry gathers every series of a scrape into dto.Metric
// protos at once, with a hash of each for the duplicate check, and
// prometheus.Gatherers does it a second time to merge in the exporter's own
// registry; only then does promhttp encode. With ten thousand accounts that
// is hundreds of thousands of protos alive together, several times what
// the accounts themselves keep, and the heap doubles that before Go
// collects. Here the scrape's samples (small, one array per account) are
// grouped by metric name, and each name is built into one family in
// buffers reused from name to name, encoded and dropped: the protos alive
// at once are those of one name. The output is what the registry and
// promhttp wrote: families sorted by name, series sorted as the registry
// sorts them, the same formats and compressions (TestServeMatchesRegistry).
//
// What the registry checked on every scrape is checked where it is made:
// label names when the configuration is read, one label set per series by
// the policy (series.go), distinct account names by the accounts package.

// family is the series of one metric name in one scrape.
type family struct {
	proto   *dto.MetricFamily // name, help and type; no series
	samples []*sample         // the accounts' series
	hists   []*histogramSample
	sets    []*counterSet
	// setSeries is the number of series in sets.
	setSeries int
}

// A setCollector sends its counters by reason as counterSets (the
// Exporter's scopes); Collect sends them as a registry gathers them.
type setCollector interface {
	collectSets(chan<- prometheus.Metric)
}

// gatherFamilies collects c and groups what it sends by metric name, in
// name order. c is the Exporter, or one account of it: what it sends is
// samples and histograms (series.go), and only these are encoded.
func gatherFamilies(c prometheus.Collector) []*family {
	ch := make(chan prometheus.Metric, 1024)
	go func() {
		defer close(ch)
		if sc, ok := c.(setCollector); ok {
			sc.collectSets(ch)
		} else {
			c.Collect(ch)
		}
	}()
	byDesc := map[*prometheus.Desc]*family{}
	byName := map[string]*family{}
	for m := range ch {
		f := byDesc[m.Desc()]
		if f == nil {
			proto := familyProto(m)
			if f = byName[proto.GetName()]; f == nil {
				f = &family{proto: proto}
				byName[proto.GetName()] = f
			}
			byDesc[m.Desc()] = f
		}
		switch m := m.(type) {
		case *sample:
			f.samples = append(f.samples, m)
		case *histogramSample:
			f.hists = append(f.hists, m)
		case *counterSet:
			f.sets = append(f.sets, m)
			f.setSeries += len(m.values)
		}
	}
	out := make([]*family, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	slices.SortFunc(out, func(x, y *family) int { return strings.Compare(x.proto.GetName(), y.proto.GetName()) })
	return out
}

// familyProtos caches, per descriptor, the name, help and type of its
// family. prometheus.Desc keeps them to itself; a registry of the one
// metric reads them out, once per descriptor.
var familyProtos sync.Map // *prometheus.Desc -> *dto.MetricFamily

func familyProto(m prometheus.Metric) *dto.MetricFamily {
	if p, ok := familyProtos.Load(m.Desc()); ok {
		return p.(*dto.MetricFamily)
	}
	reg := prometheus.NewRegistry()
	proto := &dto.MetricFamily{Name: new(""), Type: dto.MetricType_UNTYPED.Enum()}
	if err := reg.Register(oneMetric{m}); err == nil {
		if mfs, err := reg.Gather(); err == nil && len(mfs) == 1 {
			proto = &dto.MetricFamily{Name: mfs[0].Name, Help: mfs[0].Help, Type: mfs[0].Type, Unit: mfs[0].Unit}
		}
	}
	p, _ := familyProtos.LoadOrStore(m.Desc(), proto)
	return p.(*dto.MetricFamily)
}

// oneMetric is an unchecked collector of one metric.
type oneMetric struct{ m prometheus.Metric }

func (oneMetric) Describe(chan<- *prometheus.Desc)      {}
func (o oneMetric) Collect(ch chan<- prometheus.Metric) { ch <- o.m }

// chunkSize is how many series of a family are built into protos at once.
// The largest family (sunor_api_errors_total) has 180 000 series at 10 000
// accounts: as protos all at once, 24 MB alive while it is written, and
// twice that in the heap before Go collects. A family is sorted as small
// references to its series, then built and written a chunk at a time
// (writeFamily). A variable for the tests, which compare the output of
// small chunks with promhttp's.
var chunkSize = 1024

// sortedRefs returns f's series in b's buffer, in the registry's order.
func sortedRefs(b *familyBuffer, f *family) []seriesRef {
	refs := b.refs[:0]
	for i, s := range f.samples {
		refs = append(refs, seriesRef{labels: s.labels, src: int32(i)})
	}
	for i, h := range f.hists {
		refs = append(refs, seriesRef{labels: h.labels, src: int32(len(f.samples) + i)})
	}
	for i, c := range f.sets {
		src := int32(len(f.samples) + len(f.hists) + i)
		for k := range c.values {
			refs = append(refs, seriesRef{labels: c.seriesLabels(k), src: src, k: int32(k)})
		}
	}
	slices.SortFunc(refs, func(x, y seriesRef) int { return compareLabels(x.labels, y.labels) })
	b.refs = refs
	return refs
}

// buildChunk returns the family of f's series refs in b's buffers, valid
// until the next buildChunk.
func buildChunk(b *familyBuffer, f *family, refs []seriesRef) *dto.MetricFamily {
	n := len(refs)
	if cap(b.metrics) < n {
		b.metrics, b.ptrs = make([]dto.Metric, n), make([]*dto.Metric, n)
	}
	b.metrics, b.ptrs = b.metrics[:n], b.ptrs[:0]
	b.gauges, b.counters = b.gauges[:0], b.counters[:0]
	b.histograms, b.spans, b.spanPtrs, b.deltas = b.histograms[:0], b.spans[:0], b.spanPtrs[:0], b.deltas[:0]
	if len(f.hists) > 0 && cap(b.histograms) < n {
		// 1 KB each: at once for the chunk, not grown by doubling.
		b.histograms = make([]histogramProto, 0, n)
	}
	hists, sets := int32(len(f.samples)), int32(len(f.samples)+len(f.hists))
	for i, r := range refs {
		out := &b.metrics[i]
		*out = dto.Metric{}
		switch {
		case r.src < hists:
			f.samples[r.src].fill(out, b)
		case r.src < sets:
			f.hists[r.src-hists].fill(out, b)
		default:
			f.sets[r.src-sets].fill(out, int(r.k), b)
		}
		b.ptrs = append(b.ptrs, out)
	}
	b.mf = dto.MetricFamily{Name: f.proto.Name, Help: f.proto.Help, Type: f.proto.Type, Unit: f.proto.Unit, Metric: b.ptrs}
	return &b.mf
}

// writeFamily writes f with e, a chunk at a time where the format allows
// (chunked): what e.Encode writes of the whole family, byte for byte. It
// adds to *done the series it is done with (written, or failed), and
// returns false when the client is gone. An error of encoding ends the
// family, logged, as promhttp leaves out a family it cannot encode; the
// scrape goes on, but for protobuf, whose stream a family cut short
// after its length would corrupt.
func writeFamily(out io.Writer, e expfmt.Encoder, format expfmt.Format, b *familyBuffer, f *family, done *int, goOn func(error) bool) bool {
	refs := sortedRefs(b, f)
	if len(refs) <= chunkSize || !chunked(format) {
		*done += len(refs)
		return goOn(e.Encode(buildChunk(b, f, refs)))
	}
	var err error
	chunks := func(each func(mf *dto.MetricFamily) error) bool {
		for start := 0; start < len(refs); start += chunkSize {
			mf := buildChunk(b, f, refs[start:min(start+chunkSize, len(refs))])
			if err = each(mf); err != nil || !goOn(nil) {
				return false
			}
		}
		return true
	}
	if format.FormatType() == expfmt.TypeProtoDelim {
		// A family is one delimited message: its length, then its fields
		// in number order (name, help, type, the series, unit). The
		// encoding of a repeated field is that of its elements one after
		// the other, so the series are marshalled a chunk at a time, once
		// to sum their sizes for the length and once to write them (the
		// scrape's values were read when it collected: the same both
		// times).
		head := &dto.MetricFamily{Name: f.proto.Name, Help: f.proto.Help, Type: f.proto.Type}
		tail := &dto.MetricFamily{Unit: f.proto.Unit}
		size := proto.Size(head) + proto.Size(tail)
		chunks(func(mf *dto.MetricFamily) error { size += proto.Size(&dto.MetricFamily{Metric: mf.Metric}); return nil })
		put := func(m *dto.MetricFamily) error { // after what b.out holds: the length, first
			var err error
			if b.out, err = (proto.MarshalOptions{}).MarshalAppend(b.out, m); err == nil {
				_, err = out.Write(b.out)
			}
			b.out = b.out[:0]
			return err
		}
		b.out = protowire.AppendVarint(b.out[:0], uint64(size))
		if err = put(head); err == nil && chunks(func(mf *dto.MetricFamily) error {
			*done += len(mf.Metric)
			return put(&dto.MetricFamily{Metric: mf.Metric})
		}) {
			err = put(tail)
		}
		return goOn(err) && err == nil
	}
	// The text formats: the first chunk with the family's comments (HELP,
	// TYPE, UNIT), the others without, each chunk encoded straight into
	// the answer.
	first := true
	chunks(func(mf *dto.MetricFamily) error {
		*done += len(mf.Metric)
		w := out
		if !first {
			w = &commentSkipper{w: out}
		}
		first = false
		return expfmt.NewEncoder(w, format).Encode(mf)
	})
	return goOn(err)
}

// commentSkipper passes on what is written to it but for the comment lines
// before the first series: the HELP, TYPE and UNIT of a family's chunk
// after the first. In the text formats a comment line begins with '#',
// and a series line never does (a metric name, or '{' for a quoted one).
type commentSkipper struct {
	w         io.Writer
	inComment bool // within a comment line, to its newline
	past      bool // past the comments: everything passes
}

func (c *commentSkipper) Write(p []byte) (int, error) {
	n := len(p)
	for !c.past && len(p) > 0 {
		switch {
		case c.inComment:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return n, nil
			}
			p, c.inComment = p[i+1:], false
		case p[0] == '#':
			c.inComment = true
		default:
			c.past = true
		}
	}
	if len(p) > 0 {
		if _, err := c.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// chunked reports whether writeFamily can write a family of format a
// chunk at a time: the text formats and delimited protobuf.
func chunked(format expfmt.Format) bool {
	switch format.FormatType() {
	case expfmt.TypeTextPlain, expfmt.TypeOpenMetrics, expfmt.TypeProtoDelim:
		return true
	}
	return false
}

// size is the number of series in f.
func (f *family) size() int { return len(f.samples) + len(f.hists) + f.setSeries }

// compareMetrics orders series as the registry does
// (client_golang's internal.MetricSorter): fewer labels first, then by
// label values in order.
func compareMetrics(x, y *dto.Metric) int { return compareLabels(x.Label, y.Label) }

func compareLabels(x, y []*dto.LabelPair) int {
	if c := cmp.Compare(len(x), len(y)); c != 0 {
		return c
	}
	for i, lp := range x {
		if c := strings.Compare(lp.GetValue(), y[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

// HandlerOpts configure the HTTP handlers.
type HandlerOpts struct {
	// TimeoutOffset is taken off the scrape timeout Prometheus announces,
	// to leave time for encoding and the network (blackbox_exporter's
	// --timeout-offset).
	TimeoutOffset time.Duration
	// ErrorLog receives errors from encoding the answer.
	ErrorLog promhttp.Logger
	// DebugLog receives a client that did not take the whole answer: gone,
	// or too slow for the write deadline. That is the client's trouble,
	// not the exporter's. Nil for none.
	DebugLog promhttp.Logger
	// WriteTimeout bounds the writing of an answer, from its first byte,
	// when the scrape's own deadline does not come sooner. 0 is
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Own is the exporter's own long-lived registry (build info, Go,
	// process, promhttp), served on /metrics next to the accounts. Nil
	// for none.
	Own prometheus.Gatherer

	// scrapeEnd is when the client gives up, as announced by
	// X-Prometheus-Scrape-Timeout-Seconds; zero when not announced.
	scrapeEnd time.Time
}

// DefaultWriteTimeout is the longest the writing of an answer may take
// (/metrics, /probe, /sd): a client that does not read holds a slot of
// --web.max-requests that long at most. A scrape that announces its
// timeout ends writing at that deadline if it comes sooner.
const DefaultWriteTimeout = 30 * time.Second

// writeDeadline is when the writing of an answer started at start must
// end: the scrape's deadline, and at most the write timeout after start.
func (o HandlerOpts) writeDeadline(start time.Time) time.Time {
	end := start.Add(cmp.Or(o.WriteTimeout, DefaultWriteTimeout))
	if !o.scrapeEnd.IsZero() && o.scrapeEnd.Before(end) {
		end = o.scrapeEnd
	}
	return end
}

// encode answers one scrape of c together with the exporter's own registry
// when there is one, as node_exporter does: it writes their families, one
// by one, in the format and compression the request asks for, as promhttp
// does. It stops early when the client is gone.
func encode(w http.ResponseWriter, r *http.Request, c prometheus.Collector, o HandlerOpts) encoded {
	fams := gatherFamilies(c)
	start := time.Now()
	var own []*dto.MetricFamily
	if o.Own != nil {
		var err error
		if own, err = o.Own.Gather(); err != nil {
			logError(o.ErrorLog, "error gathering metrics:", err)
		}
	}
	// The answer's writing ends by the scrape's deadline: a client that
	// does not read must not hold a slot of --web.max-requests for longer.
	setWriteDeadline(w, o.writeDeadline(time.Now()))
	cw := &clientWriter{ResponseWriter: w}
	w = cw

	var res encoded
	for _, mf := range own {
		res.series += len(mf.Metric)
	}
	for _, f := range fams {
		res.series += f.size()
	}
	finish := func() encoded {
		// The client's pace is not the encoding's: a slow reader must not
		// shorten the next scrape's time for API calls.
		res.took = max(0, time.Since(start)-cw.waited())
		if err := cw.failed(); err != nil {
			logError(o.DebugLog, "the client did not take the whole answer (gone, or too slow for the write deadline):", err)
		}
		return res
	}

	// OpenMetrics too, as promhttp offers it with EnableOpenMetrics: what
	// Prometheus asks for first when it does not scrape protobuf.
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", string(format))
	out, closeOut := compressed(w, r)
	closeOut = sync.OnceFunc(closeOut) // at the end, or on the way out
	defer closeOut()
	enc := expfmt.NewEncoder(out, format)
	// The accounts' families are written as they are: every name in them is
	// a valid legacy name (metric names here, label names checked when the
	// configuration is read), which escaping leaves as it is, but only
	// after copying the family's list of series.
	verbatimFormat := format.WithEscapingScheme(model.NoEscaping)
	verbatim := enc
	if format.ToEscapingScheme() != model.NoEscaping {
		verbatim = expfmt.NewEncoder(out, verbatimFormat)
	}

	var names map[string]bool
	if r.URL != nil {
		for _, n := range r.URL.Query()["name[]"] {
			if names == nil {
				names = map[string]bool{}
			}
			names[n] = true
		}
	}
	// goOn logs an error of encoding, and reports whether the client is
	// still there: one that is gone (Prometheus gave up at its timeout),
	// or past the write deadline, reads no more, and building for it
	// stops rather than overlap the next scrape.
	goOn := func(err error) bool {
		if err != nil && cw.failed() == nil {
			logError(o.ErrorLog, "error encoding and sending metric family:", err)
		}
		return r.Context().Err() == nil && cw.failed() == nil
	}
	write := func(mf *dto.MetricFamily, e expfmt.Encoder) bool {
		res.written += len(mf.Metric) // or left out: done with, either way
		if names != nil && !names[mf.GetName()] {
			return true
		}
		return goOn(e.Encode(mf))
	}

	var buf familyBuffer
	buf.native = format.FormatType() != expfmt.TypeTextPlain && format.FormatType() != expfmt.TypeOpenMetrics
	// The references once, for the largest family: growing them family
	// by family would leave the smaller ones behind as garbage.
	most := 0
	for _, f := range fams {
		most = max(most, f.size())
	}
	buf.refs = make([]seriesRef, 0, most)
	i := 0
	for _, f := range fams {
		name := f.proto.GetName()
		for i < len(own) && own[i].GetName() < name {
			if !write(own[i], enc) {
				return finish()
			}
			i++
		}
		if i < len(own) && own[i].GetName() == name {
			// A name both the accounts and the exporter's own registry
			// have (none today): the two lists merged, all at once.
			mf := buildChunk(&buf, f, sortedRefs(&buf, f))
			mf.Metric = append(slices.Clone(own[i].Metric), mf.Metric...)
			slices.SortStableFunc(mf.Metric, compareMetrics)
			i++
			if !write(mf, enc) {
				return finish()
			}
			continue
		}
		if names != nil && !names[name] {
			res.written += f.size() // left out: done with
			continue
		}
		ok := false
		if model.LegacyValidation.IsValidMetricName(name) {
			ok = writeFamily(out, verbatim, verbatimFormat, &buf, f, &res.written, goOn)
		} else {
			res.written += f.size()
			ok = goOn(enc.Encode(buildChunk(&buf, f, sortedRefs(&buf, f))))
		}
		if !ok {
			return finish()
		}
	}
	for ; i < len(own); i++ {
		if !write(own[i], enc) {
			return finish()
		}
	}
	if closer, ok := enc.(expfmt.Closer); ok {
		if err := closer.Close(); err != nil && cw.failed() == nil {
			logError(o.ErrorLog, "error encoding and sending metric family:", err)
		}
	}
	closeOut()
	return finish()
}

// encoded is what encode did: how long it took once the collection was
// over, how many series there were, and how many it was done with
// (written, or left out by the name[] filter) when it stopped.
type encoded struct {
	took            time.Duration
	series, written int
}

// clientWriter is the response as the client takes it. It keeps the first
// error writing to the client (gone, or past the write deadline), after
// which nothing more is encoded for it, and how long writes waited for the
// client, which the time to encode leaves out. The zstd encoder writes from
// goroutines of its own.
type clientWriter struct {
	http.ResponseWriter
	wait atomic.Int64 // time.Duration

	mu  sync.Mutex
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := c.ResponseWriter.Write(p)
	c.wait.Add(int64(time.Since(start)))
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *clientWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *clientWriter) waited() time.Duration { return time.Duration(c.wait.Load()) }

func (c *clientWriter) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// setWriteDeadline bounds the writing of w's answer; a writer that cannot
// (httptest's recorder) is left as it is.
func setWriteDeadline(w http.ResponseWriter, t time.Time) {
	_ = http.NewResponseController(w).SetWriteDeadline(t)
}

func logError(l interface{ Println(...any) }, msg string, err error) {
	if l != nil {
		l.Println(msg, err)
	}
}
