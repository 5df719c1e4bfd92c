package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// reloader reloads --config.file on SIGHUP and POST /-/reload, and when
// the key directory changes. A file that fails any start-up check is
// rejected with a log line and the accounts in force stay;
// sunor_config_last_reload_successful says so.
type reloader struct {
	file     string // --config.file, else --sunor.api-key-directory; "" when there is neither
	builder  *accounts.Builder
	exporter *collector.Exporter
	logger   log.Logger
	ok, when prometheus.Gauge

	mu    sync.Mutex
	accts []accounts.Account // in force
}

func newReloader(file string, builder *accounts.Builder, exporter *collector.Exporter, accts []accounts.Account, own prometheus.Registerer, logger log.Logger) *reloader {
	r := &reloader{file: file, builder: builder, exporter: exporter, logger: logger, accts: accts}
	if file == "" {
		return r
	}
	// Exporter-level (no account label), and only with a file to reload.
	r.ok = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sunor_config_last_reload_successful",
		Help: "1 if the last load of --config.file (or --sunor.api-key-directory) succeeded, 0 if it was rejected (the previous accounts stay in force).",
	})
	r.when = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sunor_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful load of --config.file (or --sunor.api-key-directory).",
	})
	r.ok.Set(1) // start-up loaded it
	r.when.SetToCurrentTime()
	own.MustRegister(r.ok, r.when)
	return r
}

// longestTimeout is how long an in-flight scrape of the accounts in force
// may still take.
func (r *reloader) longestTimeout() (d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.accts {
		d = max(d, a.Timeout)
	}
	return d
}

// reload loads the file again. Without a file there is nothing to do,
// which is no failure: the key file, if any, is read on every call anyway.
func (r *reloader) reload() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == "" {
		const msg = "nothing to reload: the exporter runs without --config.file (a key file is read again on every call)"
		_ = level.Info(r.logger).Log("msg", msg)
		return msg, nil
	}
	accts, err := r.builder.Build()
	if err != nil {
		r.ok.Set(0)
		_ = level.Error(r.logger).Log("msg", "Config reload rejected; the previous accounts stay in force", "err", err)
		return "", err
	}
	r.exporter.SetAccounts(accts)
	r.accts = accts
	r.ok.Set(1)
	r.when.SetToCurrentTime()
	_ = level.Info(r.logger).Log("msg", "Config reloaded", "file", r.file, "accounts", len(accts))
	return fmt.Sprintf("reloaded: %d account(s)", len(accts)), nil
}

// crossOrigin is net/http's check against cross-site requests.
var crossOrigin = http.NewCrossOriginProtection()

// unrebindableHost reports whether the Host header names an IP address or
// localhost.
func unrebindableHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(host) != nil || strings.EqualFold(host, "localhost")
}

func (r *reloader) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "use POST to reload", http.StatusMethodNotAllowed)
		return
	}
	// The endpoint has no auth of its own (--web.config.file gives it
	// some), so a page in the operator's browser must not be able to
	// trigger it: a request that a browser marks as coming from another
	// site (Sec-Fetch-Site, or an Origin that is not this host) is
	// refused. curl and Prometheus's tooling send neither header.
	if err := crossOrigin.Check(req); err != nil {
		http.Error(w, "cross-site reload refused: POST from a browser on another site", http.StatusForbidden)
		return
	}
	// DNS rebinding: a page on a name its owner then points at this
	// exporter's address is "same origin" to the browser. A browser's
	// request (it sends Origin or Sec-Fetch-Site) is taken only at an IP
	// address or localhost, which no other site can rebind; curl and
	// reloaders send neither, whatever name they call.
	if (req.Header.Get("Origin") != "" || req.Header.Get("Sec-Fetch-Site") != "") && !unrebindableHost(req.Host) {
		http.Error(w, "reload from a browser at a host name refused (DNS rebinding): use an IP address or localhost, or curl -X POST", http.StatusForbidden)
		return
	}
	msg, err := r.reload()
	if err != nil {
		// Redacted as the log line is: a key pasted in the wrong field
		// (url:, timeout:) is quoted by the error.
		http.Error(w, redact.Known.Clean(err.Error(), redact.MaxLineChars), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, msg)
}
