package collector

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOpts configure Handler.
type HandlerOpts struct {
	// TimeoutOffset is taken off the scrape timeout Prometheus announces,
	// to leave time for encoding and the network (blackbox_exporter's
	// --timeout-offset).
	TimeoutOffset time.Duration
	// MaxRequests is how many scrapes may run at once; more get a 503.
	// 0 is no limit.
	MaxRequests int
	// ErrorLog receives errors from encoding the answer.
	ErrorLog promhttp.Logger
}

// Handler serves a scrape of e together with the exporter's own metrics in
// base. Each scrape gets the deadline announced in its
// X-Prometheus-Scrape-Timeout-Seconds header, less TimeoutOffset, so an API
// call gives up before Prometheus does and the scrape still returns
// sunor_api_up 0 instead of nothing.
func Handler(e *Exporter, base prometheus.Gatherer, o HandlerOpts) http.Handler {
	h := &handler{e: e, base: base, opts: o}
	if o.MaxRequests > 0 {
		h.inFlight = make(chan struct{}, o.MaxRequests)
	}
	return h
}

type handler struct {
	e        *Exporter
	base     prometheus.Gatherer
	opts     HandlerOpts
	inFlight chan struct{}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.inFlight)), http.StatusServiceUnavailable)
			return
		}
	}
	ctx := r.Context()
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 || math.IsInf(s, 0) || math.IsNaN(s) {
			http.Error(w, fmt.Sprintf("invalid X-Prometheus-Scrape-Timeout-Seconds %q: want a positive number of seconds", v), http.StatusBadRequest)
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ScrapeBudget(time.Duration(s*float64(time.Second)), h.opts.TimeoutOffset))
		defer cancel()
	}
	// Collect has no context parameter, so the scrape's context travels in
	// a collector made for this request (as blackbox_exporter builds a
	// registry per probe). Only the API series are made per request; the
	// counters and the exporter's own metrics live in long-lived collectors.
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.e.WithContext(ctx))
	promhttp.HandlerFor(prometheus.Gatherers{h.base, reg}, promhttp.HandlerOpts{
		ErrorLog:      h.opts.ErrorLog,
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
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
