package main

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
)

// reloader reloads --config.file on SIGHUP and POST /-/reload. A file that
// fails any start-up check is rejected with a log line and the accounts in
// force stay; sunor_config_last_reload_successful says so.
type reloader struct {
	mu       sync.Mutex
	spec     accounts.Spec
	exporter *collector.Exporter
	logger   log.Logger
	ok, when prometheus.Gauge
}

func newReloader(spec accounts.Spec, exporter *collector.Exporter, own *collector.Collectors, logger log.Logger) *reloader {
	r := &reloader{spec: spec, exporter: exporter, logger: logger}
	if spec.ConfigFile == "" {
		return r
	}
	// Exporter-level (no account label), and only with a file to reload.
	r.ok = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sunor_config_last_reload_successful",
		Help: "1 if the last load of --config.file succeeded, 0 if it was rejected (the previous accounts stay in force).",
	})
	r.when = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sunor_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful load of --config.file.",
	})
	r.ok.Set(1) // start-up loaded it
	r.when.SetToCurrentTime()
	own.MustRegister(r.ok, r.when)
	return r
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spec.ConfigFile == "" {
		_ = level.Info(r.logger).Log("msg", "Nothing to reload: no --config.file")
		return fmt.Errorf("nothing to reload: the exporter runs without --config.file")
	}
	accts, err := accounts.Build(r.spec, r.logger)
	if err != nil {
		r.ok.Set(0)
		_ = level.Error(r.logger).Log("msg", "Config reload rejected; the previous accounts stay in force", "err", err)
		return err
	}
	r.exporter.SetAccounts(accts)
	r.ok.Set(1)
	r.when.SetToCurrentTime()
	_ = level.Info(r.logger).Log("msg", "Config reloaded", "file", r.spec.ConfigFile, "accounts", len(accts))
	return nil
}

func (r *reloader) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "use POST to reload", http.StatusMethodNotAllowed)
		return
	}
	if err := r.reload(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "reloaded")
}
