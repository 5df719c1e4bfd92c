// Command sunor_exporter exposes the credit balance of a Sunor API account
// (sunor.cc) as Prometheus metrics, fetched on every scrape.
package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/selfmetrics"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

const (
	exporterName = "sunor_exporter"
	// defaultAddress is outside 9100-9999, which the Prometheus default
	// port registry has filled.
	defaultAddress = ":10151"
	// envAPIKey holds the key itself. There is deliberately no flag for
	// it: a flag's value shows in ps and /proc/PID/cmdline.
	envAPIKey = "SUNOR_API_KEY"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the parsed command line.
type flags struct {
	web             *web.FlagConfig
	metricsPath     string
	maxRequests     int
	disableExporter bool

	url           string
	keyFile       string
	account       string
	timeout       time.Duration
	timeoutOffset time.Duration
	cacheTTL      time.Duration
	caFile        string

	logLevel  string
	logFormat string
}

// parseFlags parses args. It returns exit >= 0 when the program should stop
// there (--help, --version, a bad flag), having printed why.
func parseFlags(args []string, stdout, stderr io.Writer) (f flags, exit int) {
	app := kingpin.New(exporterName, "Prometheus exporter for the credit balance of a Sunor API account (sunor.cc).\n\n"+
		"The API key is read from the file named by --sunor.api-key-file or from the environment variable "+envAPIKey+"; "+
		"it is never taken on the command line.")
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	exit = -1
	app.Terminate(func(code int) {
		if exit < 0 {
			exit = code
		}
	})
	app.Version(version.Print(exporterName))

	f.web = kingpinflag.AddFlags(app, defaultAddress)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests. Use 0 to disable.").Default("40").IntVar(&f.maxRequests)
	app.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (go_*, process_*, promhttp_*).").BoolVar(&f.disableExporter)

	app.Flag("sunor.url", "Base URL of the Sunor API.").Envar("SUNOR_URL").Default("https://sunor.cc").StringVar(&f.url)
	app.Flag("sunor.api-key-file", "File holding the API key (surrounding whitespace is trimmed; re-read when it changes). Alternatively set the environment variable "+envAPIKey+".").
		Envar("SUNOR_API_KEY_FILE").PlaceHolder("PATH").StringVar(&f.keyFile)
	app.Flag("sunor.account", "Value of the account label on every sunor_* series.").Envar("SUNOR_ACCOUNT").Default("default").StringVar(&f.account)
	app.Flag("sunor.timeout", "The most one API call may take; a scrape's X-Prometheus-Scrape-Timeout-Seconds less --sunor.timeout-offset lowers it.").
		Envar("SUNOR_TIMEOUT").Default("10s").DurationVar(&f.timeout)
	app.Flag("sunor.timeout-offset", "Time taken off the scrape timeout announced by Prometheus, for encoding and the network.").
		Envar("SUNOR_TIMEOUT_OFFSET").Default("0.5s").DurationVar(&f.timeoutOffset)
	app.Flag("sunor.cache-ttl", "Reuse a successful answer for this long instead of calling the API (0 is off). Failures are never cached.").
		Envar("SUNOR_CACHE_TTL").Default("0s").DurationVar(&f.cacheTTL)
	app.Flag("sunor.ca-file", "PEM file of CA certificates to trust for the API, instead of the system's.").Envar("SUNOR_CA_FILE").PlaceHolder("PATH").StringVar(&f.caFile)

	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").EnumVar(&f.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").EnumVar(&f.logFormat, "logfmt", "json")

	nameFlagErrors(app)
	if _, err := app.Parse(args); err != nil {
		if exit < 0 {
			fmt.Fprintf(stderr, "%s: error: %s, try --help\n", exporterName, err)
			exit = 1
		}
	}
	return f, exit
}

// nameFlagErrors makes a bad flag value's error name the flag: kingpin's own
// says only `time: invalid duration "soon"`, which is no help when the value
// came from an environment variable. Bool and repeatable flags are left as
// they are: kingpin looks for their marker methods, and they cannot fail.
func nameFlagErrors(app *kingpin.Application) {
	for _, fm := range app.Model().Flags {
		switch fm.Value.(type) {
		case interface{ IsBoolFlag() bool }, interface{ IsCumulative() bool }:
			continue
		}
		app.GetFlag(fm.Name).SetValue(namedValue{name: fm.Name, Value: fm.Value})
	}
}

type namedValue struct {
	name string
	kingpin.Value
}

func (v namedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		return fmt.Errorf("--%s: %w", v.name, err)
	}
	return nil
}

// newLogger builds the go-kit logger the exporter logs with. The base logger
// (level filter only) is for the slog bridge, which adds its own time and
// caller; the returned one adds them for go-kit call sites, under the same
// keys, so that every line has one of each.
func newLogger(w io.Writer, format, lvl string) (logger, base log.Logger) {
	var l log.Logger
	if format == "json" {
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	allow := map[string]level.Option{"debug": level.AllowDebug(), "info": level.AllowInfo(), "warn": level.AllowWarn(), "error": level.AllowError()}[lvl]
	l = level.NewFilter(l, allow)
	return log.With(l, "time", log.DefaultTimestampUTC, "caller", log.DefaultCaller), l
}

// slogLevel maps --log.level for the slog bridge, so that records the go-kit
// filter would drop are not even built.
func slogLevel(lvl string) slog.Level {
	return map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[lvl]
}

// run is the whole program; it returns the exit status. It stops serving
// when ctx is done (SIGTERM, SIGINT), after in-flight scrapes finish.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, exit := parseFlags(args, stdout, stderr)
	if exit >= 0 {
		return exit
	}
	logger, baseLogger := newLogger(stderr, f.logFormat, f.logLevel)
	slogger := slog.New(sloggokit.NewGoKitHandler(baseLogger, slogLevel(f.logLevel)))
	fail := func(msg string, err error) int {
		_ = level.Error(logger).Log("msg", msg, "err", err)
		return 1
	}

	base, err := sunor.ParseBaseURL(f.url)
	if err != nil {
		return fail("Invalid --sunor.url", err)
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		_ = level.Warn(logger).Log("msg", "--sunor.url is plain http: the API key crosses the network unencrypted", "url", base.String())
	}
	if f.timeout <= 0 {
		return fail("Invalid --sunor.timeout", fmt.Errorf("must be positive, got %s", f.timeout))
	}
	if f.timeoutOffset < 0 || f.cacheTTL < 0 {
		return fail("Invalid flag", errors.New("--sunor.timeout-offset and --sunor.cache-ttl must not be negative"))
	}
	if !strings.HasPrefix(f.metricsPath, "/") || f.metricsPath == "/" {
		return fail("Invalid --web.telemetry-path", fmt.Errorf("%q must start with / and not be / (the landing page)", f.metricsPath))
	}
	key, err := loadKey(f.keyFile, os.Getenv(envAPIKey), logger)
	if err != nil {
		return fail("Cannot load the API key", err)
	}
	client, err := newAPIClient(base, key, f.caFile)
	if err != nil {
		return fail("Cannot set up the HTTP client", err)
	}

	exporter := collector.New([]collector.Account{{
		Name: f.account, API: client, Timeout: f.timeout, CacheTTL: f.cacheTTL,
	}}, collector.Options{Logger: logger})

	mux := http.NewServeMux()
	mux.Handle(f.metricsPath, metricsHandler(exporter, f, slogger))
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") }
	mux.HandleFunc("/-/healthy", ok)
	mux.HandleFunc("/-/ready", ok)
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Sunor Exporter",
		Description: "Prometheus exporter for the credit balance of the Sunor API",
		Version:     version.Info(),
		Profiling:   "false", // no pprof handlers are served
		ExtraHTML: fmt.Sprintf("<p>Account <code>%s</code> at <code>%s</code>.</p>",
			html.EscapeString(f.account), html.EscapeString(base.String())),
		Links: []web.LandingLinks{
			{Address: f.metricsPath, Text: "Metrics"},
			{Address: "/-/healthy", Text: "Health"},
		},
	})
	if err != nil {
		return fail("Cannot build the landing page", err)
	}
	mux.Handle("/", landing)

	// Logged only now, so that a failed start prints exactly one line.
	_ = level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	_ = level.Info(logger).Log("msg", "Exporting Sunor account", "account", f.account, "url", base.String(),
		"timeout", f.timeout, "cache_ttl", f.cacheTTL)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, f.web, slogger) }()
	select {
	case err := <-errc:
		return fail("Cannot serve", err)
	case <-ctx.Done():
	}
	_ = level.Info(logger).Log("msg", "Shutting down: waiting for in-flight scrapes")
	sctx, cancel := context.WithTimeout(context.Background(), f.timeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fail("Shutdown did not finish in time", err)
	}
	_ = level.Info(logger).Log("msg", "Stopped")
	return 0
}

// metricsHandler serves exporter's metrics with the exporter's own: build
// info always, Go, process and promhttp metrics unless disabled.
func metricsHandler(exporter *collector.Exporter, f flags, slogger *slog.Logger) http.Handler {
	own := &collector.Collectors{}
	own.MustRegister(versioncollector.NewCollector(exporterName))
	var h http.Handler = collector.Handler(exporter, own, collector.HandlerOpts{
		TimeoutOffset: f.timeoutOffset,
		MaxRequests:   f.maxRequests,
		ErrorLog:      slog.NewLogLogger(slogger.Handler(), slog.LevelError),
	})
	if !f.disableExporter {
		own.MustRegister(
			collectors.NewGoCollector(),
			selfmetrics.NewProcessCollector(),
		)
		h = promhttp.InstrumentMetricHandler(own, h)
	}
	return h
}

// loadKey picks the key source: the file or the environment, never both.
func loadKey(file, env string, logger log.Logger) (apikey.Source, error) {
	switch {
	case file != "" && env != "":
		return nil, fmt.Errorf("both --sunor.api-key-file (or SUNOR_API_KEY_FILE) and %s are set; set one", envAPIKey)
	case file != "":
		return apikey.NewFile(file, logger)
	case env != "":
		return apikey.FromEnv(envAPIKey, env)
	default:
		return nil, fmt.Errorf("no API key: set --sunor.api-key-file (or SUNOR_API_KEY_FILE) or %s", envAPIKey)
	}
}

// newAPIClient builds the HTTP client from prometheus/common's config, which
// brings proxy-from-environment and a custom CA; redirects stay off.
func newAPIClient(base *url.URL, key apikey.Source, caFile string) (*sunor.Client, error) {
	cfg := config.DefaultHTTPClientConfig
	cfg.FollowRedirects = false
	cfg.ProxyFromEnvironment = true
	cfg.TLSConfig.CAFile = caFile
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := config.NewClientFromConfig(cfg, exporterName, config.WithUserAgent(version.ComponentUserAgent(exporterName)))
	if err != nil {
		return nil, err
	}
	return sunor.NewClient(base, hc, key.Key), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
