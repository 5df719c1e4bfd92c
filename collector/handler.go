package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MetricsHandler serves every account, with the exporter's own metrics.
// Each scrape gets the deadline announced in its
// X-Prometheus-Scrape-Timeout-Seconds header, less TimeoutOffset and less
// twice the time the last scrape took, or would have taken, to encode its
// answer, so that the API calls give up before Prometheus does and the
// scrape still returns sunor_api_up 0 instead of nothing. With thousands
// of accounts encoding takes seconds, which a fixed offset does not leave.
func MetricsHandler(e *Exporter, o HandlerOpts) http.Handler {
	return &metricsHandler{e: e, o: o}
}

type metricsHandler struct {
	e *Exporter
	o HandlerOpts
	// encoding is how long the last scrape took to encode its answer once
	// its calls were over; for one cut short by a client that was gone,
	// how long all of it would have taken at the pace it went.
	encoding atomic.Int64 // time.Duration
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o := h.o
	ctx, cancel, err := scrapeContext(r, &o, o.TimeoutOffset+2*time.Duration(h.encoding.Load()))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer cancel()
	if enc := encode(w, r, h.e.WithContext(ctx), o); enc.written > 0 {
		h.encoding.Store(int64(float64(enc.took) * float64(enc.series) / float64(enc.written)))
	}
}

// ProbeHandler serves one account, named by the account parameter, for the
// multi-target pattern (blackbox_exporter's /probe). It shares each
// account's state with MetricsHandler: one call in flight per account and
// endpoint, one cache, one budget.
func ProbeHandler(e *Exporter, o HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("account")
		if name == "" {
			http.Error(w, "the account parameter is missing: /probe?account=NAME (see /sd for the names)", http.StatusBadRequest)
			return
		}
		po := o
		ctx, cancel, err := scrapeContext(r, &po, o.TimeoutOffset)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer cancel()
		var trace *probeTrace
		debug := r.URL.Query().Get("debug") == "true"
		if debug {
			ctx, trace = withTrace(ctx)
		}
		c, ok := e.Probe(ctx, name)
		if !ok {
			// The name is the caller's own input: quoted, and cut short.
			http.Error(w, fmt.Sprintf("unknown account %s (see /sd for the names)", strconv.Quote(truncate(name, 64))), http.StatusBadRequest)
			return
		}
		if debug {
			serveDebug(w, e, name, c, trace, po.writeDeadline(time.Now()))
			return
		}
		po.Own = nil // the exporter's own metrics are on /metrics only
		encode(w, r, c, po)
	})
}

// SDHandler serves the accounts as Prometheus http_sd_configs targets, one
// target per account name, for the relabelling that turns each into a
// /probe?account=NAME scrape of this exporter. Each target has the account
// as __meta_sunor_account and each owner label as
// __meta_sunor_account_label_<name>, as Prometheus's own service discovery
// names an object's labels, for relabelling to keep or drop.
//
// The answer is built once per configuration of the accounts (start, each
// reload, each change of the key directory), plain and gzipped, and every
// request is served those bytes: with ten thousand accounts, building it
// per request took megabytes each, without bound under many requests.
func SDHandler(e *Exporter) http.Handler {
	return &sdHandler{e: e, writeTimeout: DefaultWriteTimeout}
}

type sdHandler struct {
	e            *Exporter
	writeTimeout time.Duration

	mu    sync.Mutex // one build at a time
	built atomic.Pointer[sdAnswer]
}

func (h *sdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setWriteDeadline(w, time.Now().Add(h.writeTimeout))
	a := h.answer()
	body := a.plain
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Add("Vary", "Accept-Encoding")
	if acceptedEncoding(r.Header.Get("Accept-Encoding"), "identity", "gzip") == "gzip" {
		body = a.gzipped
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// sdAnswer is /sd's answer for one configuration of the accounts.
type sdAnswer struct {
	generation     uint64 // of the accounts it lists
	plain, gzipped []byte
}

// answer returns /sd's answer for the accounts in force, built on the
// first request after they changed.
func (h *sdHandler) answer() *sdAnswer {
	e := h.e
	if a := h.built.Load(); a != nil && a.generation == e.generation.Load() {
		return a
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.built.Load(); a != nil && a.generation == e.generation.Load() {
		return a // built while this one waited
	}
	e.mu.RLock()
	accts, generation := slices.Clone(e.accounts), e.generation.Load()
	e.mu.RUnlock()
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := make([]group, 0, len(accts))
	for _, a := range accts {
		p := a.policy.Load()
		labels := make(map[string]string, 1+len(p.owner))
		for _, lp := range p.owner {
			labels["__meta_sunor_account_label_"+lp.GetName()] = lp.GetValue()
		}
		labels["__meta_sunor_account"] = a.name
		groups = append(groups, group{Targets: []string{a.name}, Labels: labels})
	}
	var plain, gzipped bytes.Buffer
	_ = json.NewEncoder(&plain).Encode(groups)
	gz, _ := gzip.NewWriterLevel(&gzipped, gzip.BestCompression)
	_, _ = gz.Write(plain.Bytes())
	_ = gz.Close()
	a := &sdAnswer{generation: generation, plain: plain.Bytes(), gzipped: gzipped.Bytes()}
	h.built.Store(a)
	return a
}

// maxScrapeTimeout bounds what X-Prometheus-Scrape-Timeout-Seconds may say
// before it becomes a time.Duration, which overflows at 292 years. Every
// call is capped by its account's timeout anyway.
const maxScrapeTimeout = 24 * time.Hour

// scrapeContext returns the request's context with the deadline
// Prometheus announced in X-Prometheus-Scrape-Timeout-Seconds, if it did,
// less offset (ScrapeBudget), and sets o.scrapeEnd to when Prometheus gives
// up.
func scrapeContext(r *http.Request, o *HandlerOpts, offset time.Duration) (context.Context, context.CancelFunc, error) {
	arrived := time.Now()
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return r.Context(), func() {}, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s <= 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return nil, nil, fmt.Errorf("invalid X-Prometheus-Scrape-Timeout-Seconds %s: want a positive number of seconds", strconv.Quote(truncate(v, 32)))
	}
	timeout := maxScrapeTimeout
	if s < timeout.Seconds() {
		timeout = time.Duration(s * float64(time.Second))
	}
	o.scrapeEnd = arrived.Add(timeout)
	ctx, cancel := context.WithTimeout(r.Context(), ScrapeBudget(timeout, offset))
	return ctx, cancel, nil
}

// ScrapeBudget is how long API calls may take within a scrape that times out
// after scrapeTimeout: that less offset, or half of it if the offset leaves
// nothing. Each account's own timeout caps it further.
func ScrapeBudget(scrapeTimeout, offset time.Duration) time.Duration {
	if t := scrapeTimeout - offset; t > 0 {
		return t
	}
	return scrapeTimeout / 2
}

// LimitInFlight answers 503 to requests beyond n at once to h; n <= 0 is no
// limit. promhttp's HandlerOpts.MaxRequestsInFlight does this only inside a
// promhttp handler, and none of the handlers it guards is one: /metrics and
// /probe are encoded here (stream.go), /sd and the status page are not
// metrics at all.
func LimitInFlight(h http.Handler, n int) http.Handler {
	if n <= 0 {
		return h
	}
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", n), http.StatusServiceUnavailable)
		}
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
