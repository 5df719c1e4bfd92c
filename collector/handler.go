package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOpts configure the HTTP handlers.
type HandlerOpts struct {
	// TimeoutOffset is taken off the scrape timeout Prometheus announces,
	// to leave time for encoding and the network (blackbox_exporter's
	// --timeout-offset).
	TimeoutOffset time.Duration
	// ErrorLog receives errors from encoding the answer.
	ErrorLog promhttp.Logger
	// Own is the exporter's own long-lived registry (build info, Go,
	// process, promhttp), served on /metrics next to the accounts. Nil
	// for none.
	Own prometheus.Gatherer
}

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
	ctx, cancel, err := scrapeContext(r, h.o.TimeoutOffset+2*time.Duration(h.encoding.Load()))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer cancel()
	if enc := encode(w, r, h.e.WithContext(ctx), h.o); enc.written > 0 {
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
		ctx, cancel, err := scrapeContext(r, o.TimeoutOffset)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer cancel()
		c, ok := e.Probe(ctx, name)
		if !ok {
			// The name is the caller's own input: quoted, and cut short.
			http.Error(w, fmt.Sprintf("unknown account %s (see /sd for the names)", strconv.Quote(truncate(name, 64))), http.StatusBadRequest)
			return
		}
		encode(w, r, c, HandlerOpts{TimeoutOffset: o.TimeoutOffset, ErrorLog: o.ErrorLog})
	})
}

// SDHandler serves the accounts as Prometheus http_sd_configs targets, one
// target per account name, for the relabelling that turns each into a
// /probe?account=NAME scrape of this exporter. Each target has the account
// as __meta_sunor_account and each owner label as
// __meta_sunor_account_label_<name>, as Prometheus's own service discovery
// names an object's labels, for relabelling to keep or drop.
func SDHandler(e *Exporter) http.Handler {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		groups := []group{}
		for _, a := range e.snapshot() {
			p := a.policy.Load()
			labels := make(map[string]string, 1+len(p.labels))
			for k, v := range p.labels {
				labels["__meta_sunor_account_label_"+k] = v
			}
			labels["__meta_sunor_account"] = a.name
			groups = append(groups, group{Targets: []string{a.name}, Labels: labels})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(groups)
	})
}

// maxScrapeTimeout bounds what X-Prometheus-Scrape-Timeout-Seconds may say
// before it becomes a time.Duration, which overflows at 292 years. Every
// call is capped by its account's timeout anyway.
const maxScrapeTimeout = 24 * time.Hour

// scrapeContext returns the request's context with the deadline Prometheus
// announced, if it did.
func scrapeContext(r *http.Request, offset time.Duration) (context.Context, context.CancelFunc, error) {
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

// LimitInFlight answers 503 to requests beyond n at once; n <= 0 is no limit.
// promhttp's MaxRequestsInFlight counts per handler, and the handlers here
// are made per scrape.
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
