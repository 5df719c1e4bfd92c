// Command sunor_exporter exposes the credit balance of a Sunor API account
// (sunor.cc) as Prometheus metrics, fetched on every scrape.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/keydir"
	"github.com/sunor-community/sunor_exporter/internal/status"
)

// keyDirEvery is how often the key directory is read for added and removed
// files; a var for tests.
var keyDirEvery = 30 * time.Second

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

	// account is what the --sunor.* flags say of an account: the one
	// account in single-account mode, the defaults of --config.file's.
	account            config.Account
	keyDir             string
	timeoutOffset      time.Duration
	maxConcurrentCalls int

	configFile  string
	configCheck bool
	collectors  map[string]*bool // --[no-]collector.<name>, by scraper name

	logLevel  string
	logFormat string
}

// parseFlags parses args. It returns exit >= 0 when the program should stop
// there (--help, --version, a bad flag), having printed why.
func parseFlags(args []string, stdout, stderr io.Writer) (f flags, exit int) {
	app := kingpin.New(exporterName, "Prometheus exporter for the credit balance of a Sunor API account (sunor.cc).\n\n"+
		"The API key is read from the file named by --sunor.api-key-file or from the environment variable "+config.EnvAPIKey+"; "+
		"it is never taken on the command line. Every flag in depth: docs/configuration.md.")
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
	f.account.HTTPClientConfig = commoncfg.DefaultHTTPClientConfig
	f.account.HTTPClientConfig.ProxyFromEnvironment = true
	f.account.Labels = map[string]string{} // --sunor.label adds to it
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests. Use 0 to disable.").Default("40").IntVar(&f.maxRequests)
	app.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (go_*, process_*, promhttp_*).").BoolVar(&f.disableExporter)

	app.Flag("sunor.url", "Base URL of the Sunor API.").Envar("SUNOR_URL").Default("https://sunor.cc").StringVar(&f.account.URL)
	app.Flag("sunor.api-key-file", "File holding the API key, read again on every call. Or set "+config.EnvAPIKey+".").Envar("SUNOR_API_KEY_FILE").PlaceHolder("PATH").StringVar(&f.account.APIKeyFile)
	app.Flag("sunor.api-key-directory", "Directory of key files: each one account named after it. Read again every "+keyDirEvery.String()+".").Envar("SUNOR_API_KEY_DIRECTORY").PlaceHolder("PATH").StringVar(&f.keyDir)
	app.Flag("sunor.account", "Value of the account label on every sunor_* series.").Envar("SUNOR_ACCOUNT").Default("default").StringVar(&f.account.Name)
	app.Flag("sunor.timeout", "The most one API call may take; a shorter scrape timeout lowers it.").Envar("SUNOR_TIMEOUT").Default("10s").DurationVar(&f.account.Timeout)
	app.Flag("sunor.timeout-offset", "Taken off the scrape timeout Prometheus announces.").Envar("SUNOR_TIMEOUT_OFFSET").Default("0.5s").DurationVar(&f.timeoutOffset)
	app.Flag("sunor.cache-ttl", "Reuse a successful answer this long (0 is off).").Envar("SUNOR_CACHE_TTL").Default("0s").DurationVar(&f.account.CacheTTL)
	app.Flag("sunor.ca-file", "PEM CA bundle to trust for the API instead of the system's.").Envar("SUNOR_CA_FILE").PlaceHolder("PATH").StringVar(&f.account.HTTPClientConfig.TLSConfig.CAFile)

	app.Flag("sunor.label", "Owner label on every series of the account; repeatable.").PlaceHolder("NAME=VALUE").SetValue(labelFlag(f.account.Labels))
	app.Flag("sunor.low-credits-threshold", "Credits under which the account counts as low.").Envar("SUNOR_LOW_CREDITS_THRESHOLD").Default("500").Float64Var(&f.account.LowCreditsThreshold)
	app.Flag("sunor.daily-budget", "Credits a day the account may spend (0 is no budget).").Envar("SUNOR_DAILY_BUDGET").Default("0").Float64Var(&f.account.DailyBudget)
	app.Flag("sunor.task-cost", "Credits one task of the account costs: the API refuses work (402) below it.").Envar("SUNOR_TASK_COST").Default("10").Float64Var(&f.account.TaskCost)
	app.Flag("sunor.max-calls-per-minute", "The most API calls with one key in any 60 s, of the 120 your product shares (0 is no ceiling).").Envar("SUNOR_MAX_CALLS_PER_MINUTE").Default("12").IntVar(&f.account.MaxCallsPerMinute)
	app.Flag("sunor.rate-limit-reserve", "No call while X-RateLimit-Remaining is at or below this.").Envar("SUNOR_RATE_LIMIT_RESERVE").Default("10").IntVar(&f.account.RateLimitReserve)
	app.Flag("sunor.max-concurrent-calls", "The most API calls in flight at once, across all accounts (0 is no cap).").Envar("SUNOR_MAX_CONCURRENT_CALLS").Default("32").IntVar(&f.maxConcurrentCalls)

	app.Flag("config.file", "YAML file of several accounts, over the sunor.* flags. Reloaded on SIGHUP and POST /-/reload.").PlaceHolder("PATH").StringVar(&f.configFile)
	app.Flag("config.check", "Check the flags, the config file and every key, then exit: 0 if start-up would succeed, else 1 with the problem.").BoolVar(&f.configCheck)
	f.collectors = map[string]*bool{}
	for _, s := range collector.Optional {
		f.collectors[s.Name()] = app.Flag("collector."+s.Name(), s.Help).Default(strconv.FormatBool(s.Default)).Bool()
	}

	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").EnumVar(&f.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").EnumVar(&f.logFormat, "logfmt", "json")

	nameFlagErrors(app)
	if _, err := app.Parse(args); err != nil {
		if exit < 0 {
			// A key pasted as a flag's value is quoted: redacted.
			err = (&accounts.Builder{File: f.configFile, KeyDir: f.keyDir, Flags: f.account}).Redact(err)
			fmt.Fprintf(stderr, "%s: error: %s, try --help\n", exporterName, err)
			exit = 1
		}
	}
	return f, exit
}

// nameFlagErrors makes a bad flag value's error name the flag: kingpin's own
// says only `time: invalid duration "soon"`, which is no help when the value
// came from an environment variable. Bool flags are left as they are:
// kingpin looks for their marker method, and they cannot fail.
func nameFlagErrors(app *kingpin.Application) {
	for _, fm := range app.Model().Flags {
		switch v := (namedValue{name: fm.Name, Value: fm.Value}); fm.Value.(type) {
		case interface{ IsBoolFlag() bool }:
		case interface{ IsCumulative() bool }:
			app.GetFlag(fm.Name).SetValue(repeatable{v})
		default:
			app.GetFlag(fm.Name).SetValue(v)
		}
	}
}

type namedValue struct {
	name string
	kingpin.Value
}

// repeatable keeps the marker of a repeatable flag (--sunor.label).
type repeatable struct{ namedValue }

func (repeatable) IsCumulative() bool { return true }

func (v namedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		return fmt.Errorf("--%s: %w", v.name, err)
	}
	return nil
}

// labelFlag is --sunor.label. Like kingpin's own map flag it splits
// NAME=VALUE (or NAME:VALUE) at the first = or :, which no label name
// holds, so a value may hold either; unlike it, it refuses a name given
// twice instead of keeping the last value without a word.
type labelFlag map[string]string

func (l labelFlag) Set(v string) error {
	i := strings.IndexAny(v, "=:")
	if i < 0 {
		return fmt.Errorf("expected KEY=VALUE got '%s'", v)
	}
	if _, dup := l[v[:i]]; dup {
		return fmt.Errorf("%q given twice: a label has one value", v[:i])
	}
	l[v[:i]] = v[i+1:]
	return nil
}

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (labelFlag) IsCumulative() bool { return true }

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

// run is the whole program; it returns the exit status. It stops serving
// when ctx is done (SIGTERM, SIGINT), after in-flight scrapes finish.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, exit := parseFlags(args, stdout, stderr)
	if exit >= 0 {
		return exit
	}
	stderr, restoreLog := installSafeLogging(stderr)
	defer restoreLog()
	logger, baseLogger := newLogger(stderr, f.logFormat, f.logLevel)
	_, stdlibBase := newLogger(stderr, f.logFormat, "debug")
	defer logStdlibAs(log.With(stdlibBase, "time", log.DefaultTimestampUTC, "caller", "stdlib"))()
	// The slog bridge at --log.level too, so that records the go-kit
	// filter would drop are not even built.
	var slogLevel slog.Level
	_ = slogLevel.UnmarshalText([]byte(f.logLevel)) // one of slog's names: kingpin's enum
	slogger := slog.New(sloggokit.NewGoKitHandler(baseLogger, slogLevel))
	fail := func(msg string, err error) int {
		_ = level.Error(logger).Log("msg", msg, "err", err)
		return 1
	}

	builder := &accounts.Builder{File: f.configFile, KeyDir: f.keyDir, Flags: f.account, MaxConns: f.maxConcurrentCalls,
		UserAgent: version.ComponentUserAgent(exporterName), Logger: logger}
	if err := checkFlags(f); err != nil {
		return fail("Invalid flag", builder.Redact(err))
	}
	accts, err := builder.Build()
	if err != nil {
		return fail("Invalid configuration", err)
	}
	if f.configCheck {
		fmt.Fprintln(stdout, checkSummary(accts))
		return 0
	}

	var scrapers []collector.Scraper
	for _, s := range collector.Optional {
		if *f.collectors[s.Name()] {
			scrapers = append(scrapers, s)
		}
	}
	exporter := collector.New(accts, collector.Options{Logger: logger, Scrapers: scrapers, MaxConcurrentCalls: f.maxConcurrentCalls})
	own := ownRegistry(f)
	reload := newReloader(cmp.Or(f.configFile, f.keyDir), builder, exporter, accts, own, logger)
	mux := scrapeMux(f, exporter, own, slogger)
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") }
	mux.HandleFunc("/-/healthy", ok)
	mux.HandleFunc("/-/ready", ok)
	mux.HandleFunc("/-/reload", reload.serveHTTP)
	// The status page: every account in force, current after each reload.
	page := collector.LimitInFlight(status.Handler(exporter, status.Options{MetricsPath: f.metricsPath, Version: version.Info()}), f.maxRequests)
	mux.Handle("/", page)
	mux.Handle("/status", page)

	listeners, err := listen(f)
	if err != nil {
		return fail("Cannot listen", err)
	}
	// Logged only now, so that a failed start prints exactly one line.
	_ = level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	if dir, entries := builder.KeyFiles(); dir != "" {
		go keydir.Watch(ctx, dir, keyDirEvery, entries, logger, func(e []keydir.Entry) error {
			builder.UseKeyFiles(dir, e)
			_, err := reload.reload() // a rejected reload is tried again at the next poll
			return err
		})
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_, _ = reload.reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if listeners == nil {
			errc <- web.ListenAndServe(srv, f.web, slogger)
		} else {
			errc <- web.ServeMultiple(listeners, srv, f.web, slogger)
		}
	}()
	// After serving has begun: listening never waits on the accounts' lines.
	dir, entries := builder.KeyFiles()
	logAccounts(logger, accts, f.configFile, dir, entries)
	select {
	case err := <-errc:
		return fail("Cannot serve", err)
	case <-ctx.Done():
	}
	_ = level.Info(logger).Log("msg", "Shutting down: waiting for in-flight scrapes")
	// In-flight scrapes end within the longest timeout of the accounts in
	// force now, reloads included.
	sctx, cancel := context.WithTimeout(context.Background(), max(f.account.Timeout, reload.longestTimeout())+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fail("Shutdown did not finish in time", err)
	}
	_ = level.Info(logger).Log("msg", "Stopped")
	return 0
}

// ownRegistry holds the exporter's own metrics, served next to each
// scrape's registry, as node_exporter does: build info always, Go and
// process metrics unless --web.disable-exporter-metrics.
func ownRegistry(f flags) *prometheus.Registry {
	own := prometheus.NewRegistry()
	own.MustRegister(versioncollector.NewCollector(exporterName))
	if !f.disableExporter {
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return own
}

// scrapeMux serves the scrapes: every account on the telemetry path, one on
// /probe, and the accounts for Prometheus service discovery on /sd.
func scrapeMux(f flags, exporter *collector.Exporter, own *prometheus.Registry, slogger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	opts := collector.HandlerOpts{
		TimeoutOffset: f.timeoutOffset,
		ErrorLog:      slog.NewLogLogger(slogger.Handler(), slog.LevelError),
		DebugLog:      slog.NewLogLogger(slogger.Handler(), slog.LevelDebug),
		Own:           own,
	}
	var metrics http.Handler = collector.MetricsHandler(exporter, opts)
	if !f.disableExporter {
		metrics = promhttp.InstrumentMetricHandler(own, metrics)
	}
	mux.Handle(f.metricsPath, collector.LimitInFlight(metrics, f.maxRequests))
	mux.Handle("/probe", collector.LimitInFlight(collector.ProbeHandler(exporter, opts), f.maxRequests))
	mux.Handle("/sd", collector.LimitInFlight(collector.SDHandler(exporter), f.maxRequests))
	return mux
}

// reservedPaths are served by the exporter itself; --web.telemetry-path
// must not take one of them.
var reservedPaths = []string{"/", "/status", "/probe", "/sd", "/-/healthy", "/-/ready", "/-/reload"}

// checkFlags checks what kingpin's types cannot, so that a bad value stops
// the exporter with one line naming the flag, never a panic. The accounts'
// settings are checked where the file's are, by package config.
func checkFlags(f flags) error {
	switch {
	case f.timeoutOffset < 0:
		return fmt.Errorf("--sunor.timeout-offset must not be negative, got %s", f.timeoutOffset)
	case f.maxRequests < 0:
		return fmt.Errorf("--web.max-requests must not be negative (0 is no limit), got %d", f.maxRequests)
	case f.maxConcurrentCalls < 0:
		return fmt.Errorf("--sunor.max-concurrent-calls must not be negative (0 is no cap), got %d", f.maxConcurrentCalls)
	}
	if err := checkTelemetryPath(f.metricsPath); err != nil {
		return fmt.Errorf("--web.telemetry-path: %w", err)
	}
	for _, addr := range *f.web.WebListenAddresses {
		if err := checkListenAddress(addr); err != nil {
			return fmt.Errorf("--web.listen-address: %w", err)
		}
	}
	if p := *f.web.WebConfigFile; p != "" {
		if err := web.Validate(p); err != nil {
			return fmt.Errorf("--web.config.file: %w", err)
		}
	}
	return nil
}

// checkTelemetryPath refuses a path that is not a plain path, or that
// another handler serves: http.ServeMux would panic on either.
func checkTelemetryPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must start with /", p)
	case strings.ContainsAny(p, "{}? \t\r\n#%"):
		return fmt.Errorf("%q must be a plain path, without {}, ?, # or %%", p)
	case slices.Contains(reservedPaths, p):
		return fmt.Errorf("%q is served by the exporter itself; choose another path", p)
	}
	return nil
}

// checkListenAddress refuses what net.Listen would, without listening (the
// exporter --config.check is run for may be on that address already).
func checkListenAddress(addr string) error {
	rest, vsock := strings.CutPrefix(addr, "vsock://")
	host, port, err := net.SplitHostPort(rest)
	switch {
	case err != nil:
		return fmt.Errorf("%q: %w", addr, err)
	case vsock: // the toolkit listens on vsock://:PORT; only the port is read
		if _, err := strconv.ParseUint(port, 10, 32); err != nil {
			return fmt.Errorf("%q: bad vsock port", addr)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port: %w", addr, err)
	}
	if host != "" && net.ParseIP(host) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return fmt.Errorf("%q: bad host: %w", addr, err)
		}
	}
	return nil
}

// listen listens on each TCP listen address, so that one the exporter
// cannot have (in use, not this machine's) stops it with one line before
// the start-up lines, and keeps the listeners for serving. With systemd's
// sockets or a vsock address it returns none: the toolkit listens then.
func listen(f flags) ([]net.Listener, error) {
	if *f.web.WebSystemdSocket || slices.ContainsFunc(*f.web.WebListenAddresses, func(a string) bool { return strings.HasPrefix(a, "vsock://") }) {
		return nil, nil
	}
	var ls []net.Listener
	for _, addr := range *f.web.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("--web.listen-address: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}
