// Command sunor_exporter exposes the credit balance of a Sunor API account
// (sunor.cc) as Prometheus metrics, fetched on every scrape.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
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
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/selfmetrics"
)

const (
	exporterName = "sunor_exporter"
	// defaultAddress is outside 9100-9999, which the Prometheus default
	// port registry has filled.
	defaultAddress = ":10151"
)

// versionFile is the release this source is; a build the linker did not
// stamp (go run ., go build) reports it, so that every binary says what it
// is. The revision comes from the build's VCS stamp, when it has one
// (prometheus/common/version reads it).
//
//go:embed VERSION
var versionFile string

func init() {
	if version.Version == "" {
		version.Version = strings.TrimSpace(versionFile)
	}
}

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

	configFile  string
	configCheck bool
	usage       bool

	logLevel  string
	logFormat string
}

// parseFlags parses args. It returns exit >= 0 when the program should stop
// there (--help, --version, a bad flag), having printed why.
func parseFlags(args []string, stdout, stderr io.Writer) (f flags, exit int) {
	app := kingpin.New(exporterName, "Prometheus exporter for the credit balance of a Sunor API account (sunor.cc).\n\n"+
		"The API key is read from the file named by --sunor.api-key-file or from the environment variable "+accounts.EnvAPIKey+"; "+
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
	app.Flag("sunor.api-key-file", "File holding the API key (surrounding whitespace is trimmed; re-read when it changes). Alternatively set the environment variable "+accounts.EnvAPIKey+".").
		Envar("SUNOR_API_KEY_FILE").PlaceHolder("PATH").StringVar(&f.keyFile)
	app.Flag("sunor.account", "Value of the account label on every sunor_* series.").Envar("SUNOR_ACCOUNT").Default("default").StringVar(&f.account)
	app.Flag("sunor.timeout", "The most one API call may take; a scrape's X-Prometheus-Scrape-Timeout-Seconds less --sunor.timeout-offset lowers it.").
		Envar("SUNOR_TIMEOUT").Default("10s").DurationVar(&f.timeout)
	app.Flag("sunor.timeout-offset", "Time taken off the scrape timeout announced by Prometheus, for encoding and the network.").
		Envar("SUNOR_TIMEOUT_OFFSET").Default("0.5s").DurationVar(&f.timeoutOffset)
	app.Flag("sunor.cache-ttl", "Reuse a successful answer for this long instead of calling the API (0 is off). Failures are never cached.").
		Envar("SUNOR_CACHE_TTL").Default("0s").DurationVar(&f.cacheTTL)
	app.Flag("sunor.ca-file", "PEM file of CA certificates to trust for the API, instead of the system's.").Envar("SUNOR_CA_FILE").PlaceHolder("PATH").StringVar(&f.caFile)

	app.Flag("config.file", "YAML file of several accounts (see README); --sunor.url, --sunor.timeout and --sunor.cache-ttl become their defaults. Reloaded on SIGHUP and POST /-/reload.").
		PlaceHolder("PATH").StringVar(&f.configFile)
	app.Flag("config.check", "Check the flags, the config file and every key, then exit: 0 if start-up would succeed, else 1 with the problem.").BoolVar(&f.configCheck)
	app.Flag("collector.usage", "Also call GET /api/v1/account/usage for the spend counters (one more API call per scrape and account).").Default("true").BoolVar(&f.usage)

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

	if f.timeout <= 0 {
		return fail("Invalid --sunor.timeout", fmt.Errorf("must be positive, got %s", f.timeout))
	}
	if f.timeoutOffset < 0 || f.cacheTTL < 0 {
		return fail("Invalid flag", errors.New("--sunor.timeout-offset and --sunor.cache-ttl must not be negative"))
	}
	if !strings.HasPrefix(f.metricsPath, "/") || f.metricsPath == "/" {
		return fail("Invalid --web.telemetry-path", fmt.Errorf("%q must start with / and not be / (the landing page)", f.metricsPath))
	}
	spec := accounts.Spec{
		ConfigFile: f.configFile, URL: f.url, Timeout: f.timeout, CacheTTL: f.cacheTTL, CAFile: f.caFile,
		Account: f.account, KeyFile: f.keyFile, KeyEnv: os.Getenv(accounts.EnvAPIKey),
		UserAgent: version.ComponentUserAgent(exporterName),
	}
	accts, err := accounts.Build(spec, logger)
	if err != nil {
		return fail("Invalid configuration", err)
	}
	if f.configCheck {
		fmt.Fprintf(stdout, "OK: %d account(s): %s\n", len(accts), strings.Join(accountNames(accts), ", "))
		return 0
	}

	exporter := collector.New(accts, collector.Options{Logger: logger, Usage: f.usage})
	own := &collector.Collectors{}
	reload := newReloader(spec, exporter, own, logger)

	mux := http.NewServeMux()
	mux.Handle(f.metricsPath, metricsHandler(exporter, own, f, slogger))
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") }
	mux.HandleFunc("/-/healthy", ok)
	mux.HandleFunc("/-/ready", ok)
	mux.HandleFunc("/-/reload", reload.serveHTTP)
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Sunor Exporter",
		Description: "Prometheus exporter for the credit balance of the Sunor API",
		Version:     version.Info(),
		Profiling:   "false", // no pprof handlers are served
		ExtraHTML:   landingAccounts(accts),
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
	for _, a := range accts {
		_ = level.Info(logger).Log("msg", "Exporting Sunor account", "account", a.Name, "timeout", a.Timeout, "cache_ttl", a.CacheTTL, "usage", f.usage)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = reload.reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, f.web, slogger) }()
	select {
	case err := <-errc:
		return fail("Cannot serve", err)
	case <-ctx.Done():
	}
	_ = level.Info(logger).Log("msg", "Shutting down: waiting for in-flight scrapes")
	// In-flight scrapes end within the longest account timeout.
	longest := f.timeout
	for _, a := range accts {
		longest = max(longest, a.Timeout)
	}
	sctx, cancel := context.WithTimeout(context.Background(), longest+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fail("Shutdown did not finish in time", err)
	}
	_ = level.Info(logger).Log("msg", "Stopped")
	return 0
}

// metricsHandler serves exporter's metrics with the exporter's own: build
// info always, Go, process and promhttp metrics unless disabled.
func metricsHandler(exporter *collector.Exporter, own *collector.Collectors, f flags, slogger *slog.Logger) http.Handler {
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

func accountNames(accts []collector.Account) []string {
	var names []string
	for _, a := range accts {
		names = append(names, a.Name)
	}
	return names
}

// landingAccounts lists the accounts on the landing page: names only, no
// key, no URL credentials (ParseBaseURL refuses them).
func landingAccounts(accts []collector.Account) string {
	var b strings.Builder
	b.WriteString("<p>Accounts at start-up:")
	for _, a := range accts {
		fmt.Fprintf(&b, " <code>%s</code>", html.EscapeString(a.Name))
	}
	b.WriteString("</p>")
	return b.String()
}
