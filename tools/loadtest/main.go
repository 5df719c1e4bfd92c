// Command loadtest measures the exporter as a user feels it. It builds the
// exporter and the fake Sunor API as releases are built, runs them as
// separate processes on loopback, and reports two tables.
//
// Latency: one client (this program: Go's HTTP client, one keep-alive
// connection per target, one request at a time, as Prometheus scrapes)
// sends Prometheus's scrape headers (Accept-Encoding: gzip, a 10 s scrape
// timeout) to every target in turn, round after round, for -duration, so
// that every row sees the same machine at the same time:
//
//   - the direct balance call to the fake API;
//   - a bare Go relay (tools/loadtest/relay): one call, three lines out;
//   - json_exporter's /probe configured for the same endpoint, when
//     json_exporter is on PATH (a measuring tool only, not a dependency);
//   - the exporter like for like: --no-collector.usage
//     --web.disable-exporter-metrics --sunor.max-calls-per-minute=0, so that
//     every scrape makes its one call;
//   - the exporter with default flags: exporter metrics on, balance and
//     usage, and the budget guard (12 calls a minute), so most scrapes
//     reuse the last answer without a call, as in production;
//   - default flags but --sunor.max-calls-per-minute=0: two calls a scrape.
//
// The fake announces a rate limit of a million a minute, so that the
// --sunor.rate-limit-reserve never stops a call here. After the latency
// rounds, the default exporter is scraped up to -rss-scrapes times in all
// and its peak RSS (VmHWM) read.
//
// Scaling: for each -accounts count, a fresh exporter with default flags and
// a --config.file of that many accounts (keys in environment variables),
// against a fake whose every answer takes -delay. One cold scrape of
// /metrics after start, one warm scrape right after, then /probe of every
// account with -probe-concurrency clients. The fake counts the API calls
// and the most TCP connections open at once.
//
// Start-up (-startup 1000,10000): for each count, short (key-N) and
// 30-character keys, from an accounts file and from a key directory, the
// time from exec to listening and to the first scrape with every account
// up.
//
//	go run ./tools/loadtest -duration 10s -runs 3 -accounts 1,10,100,1000
//	go run ./tools/loadtest -duration 0 -accounts "" -startup 1000,10000
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// promAccept is the Accept header Prometheus 3 sends.
const promAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

var (
	exporterAddrRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)
	fakeAddrRE     = regexp.MustCompile(`listening on http://(\S+)`)
)

type options struct {
	duration      time.Duration
	client        string
	runs          int
	rssScrapes    int
	accounts      []int
	delay         time.Duration
	probeConc     int
	scrapeTO      string
	check         bool
	bins          map[string]string
	jsonBin       string
	exporterEnv   []string
	exporterFlags []string
	promDuration  time.Duration
	promInterval  time.Duration
	promAccounts  []int
	promPaths     []string
	promVerbose   bool
	// The start-up table (startup.go).
	startupAccounts []int
	startupDelay    time.Duration
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each run sends latency rounds; 0 skips the latency table")
	flag.StringVar(&o.client, "client", "go", "the client of the latency table: go (this program, every target in turn, round after round) or wrk (wrk -t1 -c1 --latency, one target after another)")
	flag.IntVar(&o.runs, "runs", 1, "latency runs, each with fresh processes; the table shows the median and the range")
	flag.IntVar(&o.rssScrapes, "rss-scrapes", 10000, "scrapes of the default exporter before its peak RSS is read")
	accts := flag.String("accounts", "1,10,100", "account counts of the scaling table (comma-separated; empty skips it)")
	flag.DurationVar(&o.delay, "delay", 300*time.Millisecond, "how long the fake takes to answer each call in the scaling table")
	flag.IntVar(&o.probeConc, "probe-concurrency", 32, "clients probing the accounts at once in the scaling table (the exporter answers 503 beyond --web.max-requests, 40)")
	flag.StringVar(&o.scrapeTO, "scrape-timeout", "10", "X-Prometheus-Scrape-Timeout-Seconds of every request, as Prometheus's default")
	exporterFlags := flag.String("exporter-flags", "", "extra flags of the exporters in the scaling table, e.g. --sunor.timeout-offset=2s (comma-separated)")
	exporterEnv := flag.String("exporter-env", "", "extra environment of the exporters in the scaling table, e.g. GOMEMLIMIT=40MiB (comma-separated)")
	flag.DurationVar(&o.promDuration, "prom-duration", 0, "how long the like-Prometheus table scrapes every -prom-interval (at least 2m for figures after the first minute); 0 skips it")
	flag.DurationVar(&o.promInterval, "prom-interval", 15*time.Second, "the scrape interval of the like-Prometheus table")
	promAccts := flag.String("prom-accounts", "1000", "account counts of the like-Prometheus table (comma-separated)")
	promPaths := flag.String("prom-paths", "metrics", "what the like-Prometheus table scrapes: metrics, probe or both (comma-separated)")
	flag.BoolVar(&o.promVerbose, "prom-verbose", false, "print every scrape of the like-Prometheus table for /metrics: when it began, how long it took, accounts up, error")
	startupAccts := flag.String("startup", "", "account counts of the start-up table: time to listening and to a scrape with every account up, short and long keys, from an accounts file and a key directory (comma-separated; empty skips it)")
	flag.DurationVar(&o.startupDelay, "startup-delay", 0, "how long the fake takes to answer each call in the start-up table")
	flag.BoolVar(&o.check, "check", false, "exit 1 if a goal is missed (not for CI: timings on a shared machine are noisy)")
	flag.Parse()
	for _, s := range strings.Split(*accts, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				fatal(fmt.Errorf("-accounts: bad count %q", s))
			}
			o.accounts = append(o.accounts, n)
		}
	}

	for _, s := range strings.Split(*startupAccts, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				fatal(fmt.Errorf("-startup: bad count %q", s))
			}
			o.startupAccounts = append(o.startupAccounts, n)
		}
	}
	for _, s := range strings.Split(*promAccts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-prom-accounts: bad count %q", s))
		}
		o.promAccounts = append(o.promAccounts, n)
	}
	for _, p := range strings.Split(*promPaths, ",") {
		if p != "metrics" && p != "probe" {
			fatal(fmt.Errorf("-prom-paths: want metrics or probe, got %q", p))
		}
		o.promPaths = append(o.promPaths, p)
	}
	if *exporterEnv != "" {
		o.exporterEnv = strings.Split(*exporterEnv, ",")
	}
	if *exporterFlags != "" {
		o.exporterFlags = strings.Split(*exporterFlags, ",")
	}

	dir, err := os.MkdirTemp("", "sunor-load")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	o.bins = map[string]string{}
	// Static and stripped, as releases and the Dockerfile build them.
	if o.bins["exporter"], err = testtool.BuildExporter(dir); err != nil {
		fatal(err)
	}
	for name, pkg := range map[string]string{"fake": "./cmd/fakesunor", "relay": "./tools/loadtest/relay"} {
		if o.bins[name], err = testtool.BuildProgram(dir, pkg); err != nil {
			fatal(err)
		}
	}
	o.jsonBin, _ = exec.LookPath("json_exporter")
	client := "this program (Go net/http, one keep-alive connection per target, one request at a time)"
	switch o.client {
	case "go":
	case "wrk":
		if _, err := exec.LookPath("wrk"); err != nil {
			fatal(fmt.Errorf("-client wrk: wrk is not installed (Debian package wrk)"))
		}
		client = "wrk -t1 -c1 --latency (one connection, one request at a time), the same headers"
	default:
		fatal(fmt.Errorf("-client: want go or wrk, got %q", o.client))
	}
	fmt.Printf("%d CPUs, %s. Latency client: %s.\n", numCPU(), goVersion(), client)
	ok := true
	if o.duration > 0 {
		ok = latency(o, dir)
	}
	if len(o.accounts) > 0 {
		ok = scaling(o, dir) && ok
	}
	if o.promDuration > 0 {
		ok = prometheus(o, dir) && ok
	}
	if len(o.startupAccounts) > 0 {
		ok = startup(o, dir) && ok
	}
	if o.check && !ok {
		fmt.Println("\na goal was missed")
		os.Exit(1)
	}
}

// A target is one row of the latency table.
type target struct {
	name     string
	url      string
	header   http.Header
	proc     *testtool.Proc // nil for the fake itself
	exporter bool           // a sunor_exporter: count its API calls
	client   *http.Client
	samples  []time.Duration
	scrapes  int
	wrk      *wrkStats // the row's figures, when wrk measured it
}

type row struct {
	name                            string
	p50, p90, p99, overhead         time.Duration
	n                               int
	rss                             int64 // VmHWM, bytes; 0 for the fake
	callsPerScrape                  float64
	hasCalls                        bool
	absent                          string
	defaultFlags, likeForLike, json bool
}

func latency(o options, dir string) bool {
	jcfg := filepath.Join(dir, "json_exporter.yml")
	if err := os.WriteFile(jcfg, []byte(`modules:
  sunor:
    headers:
      x-api-key: key-json
    metrics:
    - {name: sunor_credits_available, path: '{.data.available}', help: Credits available.}
    - {name: sunor_credits_frozen, path: '{.data.frozen}', help: Credits frozen.}
    - {name: sunor_credits_total, path: '{.data.total}', help: Credits available plus frozen.}
`), 0o600); err != nil {
		fatal(err)
	}
	if o.client == "wrk" {
		fmt.Printf("\nLatency: %d run(s), each target for %s in turn (Accept-Encoding: gzip, scrape timeout %ss).\n", o.runs, o.duration, o.scrapeTO)
	} else {
		fmt.Printf("\nLatency: %d run(s) of %s of rounds, one request to every target per round (Accept-Encoding: gzip, scrape timeout %ss).\n", o.runs, o.duration, o.scrapeTO)
	}
	fmt.Println("The fake announces 1e6 requests a minute per key, so the rate-limit reserve never stops a call.")
	if o.jsonBin == "" {
		fmt.Println("json_exporter not installed: its row is left out.")
	}

	var runs [][]row
	for run := 1; run <= o.runs; run++ {
		runs = append(runs, latencyRun(o, jcfg, run))
	}
	w := 9 // a column of medians; with ranges: "1470 (1450-2300)µs"
	if o.runs > 1 {
		w = 21
	}
	fmt.Printf("\n%-46s %5s %*s %*s %*s %*s %7s %*s\n", "target", "calls", w, "p50", w, "p90", w, "p99", w, "p50-direct", "n", w, "peakRSS")
	var ok = true
	for i := range runs[0] {
		var rs []row
		for _, r := range runs {
			rs = append(rs, r[i])
		}
		r := rs[0]
		if r.absent != "" {
			fmt.Printf("%-44s %s\n", r.name, r.absent)
			continue
		}
		calls := ""
		if r.hasCalls {
			calls = fmt.Sprintf("%.2f", median(rs, func(r row) float64 { return r.callsPerScrape }))
		}
		rss := ""
		if r.rss > 0 {
			rss = rangeOf(rs, func(r row) float64 { return float64(r.rss) / (1 << 20) }, "%.1f") + "MiB"
		}
		fmt.Printf("%-46s %5s %*s %*s %*s %*s %7d %*s\n", r.name, calls, w,
			durRange(rs, func(r row) time.Duration { return r.p50 }), w,
			durRange(rs, func(r row) time.Duration { return r.p90 }), w,
			durRange(rs, func(r row) time.Duration { return r.p99 }), w,
			durRange(rs, func(r row) time.Duration { return r.overhead }),
			int(median(rs, func(r row) float64 { return float64(r.n) })), w, rss)
	}
	fmt.Println("\n(a) --no-collector.usage --web.disable-exporter-metrics --sunor.max-calls-per-minute=0: one call a scrape, as json_exporter's /probe")
	fmt.Println("(b) exporter metrics, balance and usage, budget guard at 12 calls a minute: most scrapes reuse the last answer, as in production")
	fmt.Println("(c) as (b) with --sunor.max-calls-per-minute=0: two calls (in parallel) every scrape")
	fmt.Println("Each cell: the median over the runs, (min-max) when there were several. calls: API calls per scrape; n: requests measured.")
	fmt.Printf("peak RSS of the default exporter after %d scrapes; of the others after their rounds.\n", o.rssScrapes)

	// The latency goals, on the medians.
	med := func(pick func(row) bool, f func(row) float64) (float64, bool) {
		for i := range runs[0] {
			if pick(runs[0][i]) && runs[0][i].absent == "" {
				var rs []row
				for _, r := range runs {
					rs = append(rs, r[i])
				}
				return median(rs, f), true
			}
		}
		return 0, false
	}
	p50 := func(r row) float64 { return float64(r.p50) }
	like, _ := med(func(r row) bool { return r.likeForLike }, p50)
	if js, found := med(func(r row) bool { return r.json }, p50); found {
		fmt.Printf("goal: like-for-like p50 %s < json_exporter p50 %s: %s\n", us(like), us(js), verdict(like < js, &ok))
	}
	over, _ := med(func(r row) bool { return r.defaultFlags }, func(r row) float64 { return float64(r.overhead) })
	fmt.Printf("goal: default flags, p50 overhead %s < 1.5ms: %s\n", us(over), verdict(over < 1.5e6, &ok))
	rss, _ := med(func(r row) bool { return r.defaultFlags }, func(r row) float64 { return float64(r.rss) })
	fmt.Printf("goal: default flags, peak RSS %.1f MiB <= 25 MiB after %d scrapes: %s\n", rss/(1<<20), o.rssScrapes, verdict(rss <= 25<<20, &ok))
	return ok
}

func latencyRun(o options, jcfg string, run int) []row {
	fake, fakeAddr := startProc(fakeAddrRE, nil, o.bins["fake"], "-listen", "127.0.0.1:0", "-rate-limit", "1000000",
		"-key", "key-direct", "-key", "key-relay", "-key", "key-json", "-key", "key-like", "-key", "key-default", "-key", "key-default-nc")
	defer fake.Stop(stopWait)
	fakeURL := "http://" + fakeAddr
	promHeaders := http.Header{"Accept": {promAccept}, "Accept-Encoding": {"gzip"}, "X-Prometheus-Scrape-Timeout-Seconds": {o.scrapeTO}}
	with := func(h http.Header, k, v string) http.Header { h = h.Clone(); h.Set(k, v); return h }

	exporter := func(name, key string, args ...string) *target {
		args = append([]string{"--sunor.url=" + fakeURL, "--web.listen-address=127.0.0.1:0"}, args...)
		p, addr := startProc(exporterAddrRE, []string{"SUNOR_API_KEY=" + key}, o.bins["exporter"], args...)
		return &target{name: name, url: "http://" + addr + "/metrics", header: promHeaders, proc: p, exporter: true}
	}
	targets := []*target{{name: "direct call to the fake API", url: fakeURL + "/api/v1/account/balance", header: with(promHeaders, "x-api-key", "key-direct")}}
	relay, relayAddr := startProc(fakeAddrRE, nil, o.bins["relay"], "-url", fakeURL, "-key", "key-relay")
	targets = append(targets, &target{name: "Go relay (tools/loadtest/relay)", url: "http://" + relayAddr + "/probe", header: promHeaders, proc: relay})
	jsonRow := -1
	if o.jsonBin != "" {
		p, addr := startProc(exporterAddrRE, nil, o.jsonBin, "--config.file="+jcfg, "--web.listen-address=127.0.0.1:0")
		jsonRow = len(targets)
		targets = append(targets, &target{name: "json_exporter /probe", url: "http://" + addr + "/probe?module=sunor&target=" + fakeURL + "/api/v1/account/balance", header: promHeaders, proc: p})
	}
	likeRow := len(targets)
	targets = append(targets, exporter("sunor_exporter, like for like (a)", "key-like",
		"--no-collector.usage", "--web.disable-exporter-metrics", "--sunor.max-calls-per-minute=0"))
	defRow := len(targets)
	targets = append(targets, exporter("sunor_exporter, default flags (b)", "key-default"))
	targets = append(targets, exporter("sunor_exporter, default flags, no ceiling (c)", "key-default-nc", "--sunor.max-calls-per-minute=0"))
	defer func() {
		for _, t := range targets {
			if t.proc != nil {
				t.proc.Stop(stopWait)
			}
		}
	}()
	for _, t := range targets {
		// Its own connection, kept alive; the body is read as sent
		// (compressed), as the scraper's cost is not the exporter's.
		t.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	}

	for i := 0; i < 200; i++ { // warm up connections, pools, caches
		for _, t := range targets {
			timed(t)
		}
	}
	for _, t := range targets {
		t.samples = t.samples[:0]
	}
	if o.client == "wrk" {
		// One target after another, the order rotated from run to run.
		for i := range targets {
			t := targets[(run+i)%len(targets)]
			t.wrk = runWrk(t, o.duration)
			t.scrapes += t.wrk.n
		}
	} else {
		end := time.Now().Add(o.duration)
		for round := 0; time.Now().Before(end); round++ {
			// Rotate who goes first, so that no row always follows another.
			for i := range targets {
				t := targets[(round+i)%len(targets)]
				t.samples = append(t.samples, timed(t))
			}
		}
	}
	def := targets[defRow]
	for def.scrapes < o.rssScrapes {
		timed(def)
	}

	var rows []row
	for _, t := range targets {
		if t.wrk == nil {
			slices.Sort(t.samples)
			t.wrk = &wrkStats{n: len(t.samples), p50: percentile(t.samples, 50), p90: percentile(t.samples, 90), p99: percentile(t.samples, 99)}
		}
	}
	direct := targets[0].wrk.p50
	for i, t := range targets {
		r := row{name: t.name, n: t.wrk.n, p50: t.wrk.p50, p90: t.wrk.p90, p99: t.wrk.p99,
			defaultFlags: i == defRow, likeForLike: i == likeRow, json: i == jsonRow}
		r.overhead = r.p50 - direct
		if t.proc != nil {
			r.rss = peakRSS(t.proc.Pid())
		}
		if t.exporter {
			// The scrape that reads the counter counts its own calls too.
			r.callsPerScrape, r.hasCalls = float64(apiCalls(t.url))/float64(t.scrapes+1), true
		} else if i > 0 {
			r.callsPerScrape, r.hasCalls = 1, true
		}
		rows = append(rows, r)
	}
	if o.jsonBin == "" {
		rows = slices.Insert(rows, 2, row{name: "json_exporter /probe", absent: "json_exporter not installed"})
	}
	return rows
}

type wrkStats struct {
	p50, p90, p99 time.Duration
	n             int
}

var (
	wrkPctRE = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)$`)
	wrkReqRE = regexp.MustCompile(`(\d+) requests in`)
)

// runWrk measures t with wrk: one thread, one connection, t's headers.
func runWrk(t *target, d time.Duration) *wrkStats {
	args := []string{"-t1", "-c1", "--latency", "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds())))}
	for k, vs := range t.header {
		for _, v := range vs {
			args = append(args, "-H", k+": "+v)
		}
	}
	out, err := exec.Command("wrk", append(args, t.url)...).CombinedOutput()
	if err != nil {
		fatal(fmt.Errorf("wrk %s: %v\n%s", t.url, err, out))
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		fatal(fmt.Errorf("wrk %s: errors:\n%s", t.url, out))
	}
	s := &wrkStats{}
	for _, m := range wrkPctRE.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		p := time.Duration(v * float64(unit))
		switch m[1] {
		case "50":
			s.p50 = p
		case "90":
			s.p90 = p
		case "99":
			s.p99 = p
		}
	}
	m := wrkReqRE.FindStringSubmatch(string(out))
	if m == nil || s.p50 == 0 {
		fatal(fmt.Errorf("wrk %s: cannot read its output:\n%s", t.url, out))
	}
	s.n, _ = strconv.Atoi(m[1])
	return s
}

func timed(t *target) time.Duration {
	req, _ := http.NewRequest("GET", t.url, nil)
	req.Header = t.header
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 {
		fatal(fmt.Errorf("%s: status %d", t.url, resp.StatusCode))
	}
	t.scrapes++
	return d
}

// apiCalls sums sunor_api_requests_total on the exporter at url (a scrape
// without exporter metrics would do too; this one is not counted).
func apiCalls(url string) int {
	body := get(url, nil)
	var n float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "sunor_api_requests_total{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += v
		}
	}
	return int(n)
}

// scaling is the accounts table: cold and warm /metrics, then /probe of each.
func scaling(o options, dir string) bool {
	maxN := slices.Max(o.accounts)
	fake, fakeAddr := startProc(fakeAddrRE, nil, o.bins["fake"], "-listen", "127.0.0.1:0", "-accounts", strconv.Itoa(maxN), "-delay", o.delay.String())
	defer fake.Stop(stopWait)
	fakeURL := "http://" + fakeAddr
	fmt.Printf("\nScaling: default flags (--sunor.max-concurrent-calls=32, 12 calls a minute per key), --config.file with N accounts (api_key_env),\n")
	fmt.Printf("every API answer %s late, Prometheus's headers (gzip, scrape timeout %ss). /probe: every account once, %d at a time.\n", o.delay, o.scrapeTO, o.probeConc)
	if len(o.exporterEnv)+len(o.exporterFlags) > 0 {
		fmt.Printf("Exporter environment and flags: %s.\n", strings.Join(append(slices.Clone(o.exporterEnv), o.exporterFlags...), " "))
	}
	fmt.Printf("conns: the most TCP connections open at the fake at once in that step (the load script's own control connection not counted).\n\n")
	fmt.Printf("%8s | %-37s | %-37s | %-46s | %8s\n", "", "cold /metrics scrape", "warm /metrics scrape", "/probe of every account", "")
	fmt.Printf("%8s | %8s %6s %6s %6s %6s | %8s %6s %6s %6s %6s | %8s %8s %6s %6s %6s %6s | %8s\n", "accounts",
		"time", "calls", "up", "errors", "conns", "time", "calls", "up", "errors", "conns", "total", "p50", "calls", "up", "errors", "conns", "peakRSS")
	ok := true
	for _, n := range o.accounts {
		r := scaleRow(o, dir, fakeURL, n)
		fmt.Printf("%8d | %8s %6d %6d %6d %6d | %8s %6d %6d %6d %6d | %8s %8s %6d %6d %6d %6d | %5.1fMiB\n", n,
			ms(r.cold.took), r.cold.calls, r.cold.up, r.cold.errors, r.cold.conns, ms(r.warm.took), r.warm.calls, r.warm.up, r.warm.errors, r.warm.conns,
			ms(r.probeTotal), ms(r.probeP50), r.probe.calls, r.probe.up, r.probe.errors, r.probe.conns, float64(r.rss)/(1<<20))
		if n == 100 {
			fmt.Printf("%8s   goal: 100 accounts, one /metrics scrape < 2.5 s: cold %s, warm %s: %s\n", "", ms(r.cold.took), ms(r.warm.took),
				verdict(r.cold.took < 2500*time.Millisecond && r.warm.took < 2500*time.Millisecond, &ok))
		}
		if n == 1000 {
			fmt.Printf("%8s   goal: 1000 accounts, peak RSS %.1f MiB <= 64 MiB: %s; connections %d <= 32: %s\n", "", float64(r.rss)/(1<<20),
				verdict(r.rss <= 64<<20, &ok), r.conns, verdict(r.conns <= 32, &ok))
		}
	}
	fmt.Println("\ncalls: API calls the fake received; up: accounts with sunor_api_up 1; errors: failed calls counted by the exporter in that step")
	fmt.Println("(sunor_api_errors_total; most are calls still queued for one of the 32 slots when the scrape's deadline came).")
	return ok
}

type step struct {
	took                     time.Duration
	calls, up, errors, conns int
}

type scaleResult struct {
	cold, warm, probe step
	probeTotal        time.Duration
	probeP50          time.Duration
	conns             int
	rss               int64
}

func scaleRow(o options, dir, fakeURL string, n int) scaleResult {
	cfg, env := writeAccounts(dir, fmt.Sprintf("accounts-%d.yml", n), n)
	control := &http.Client{Timeout: 10 * time.Second}
	post(control, fakeURL+"/fake/connections/reset")
	exp, addr := startProc(exporterAddrRE, append(env, o.exporterEnv...), o.bins["exporter"], append([]string{"--sunor.url=" + fakeURL, "--web.listen-address=127.0.0.1:0", "--config.file=" + cfg}, o.exporterFlags...)...)
	defer exp.Stop(stopWait)
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.probeConc}, Timeout: 60 * time.Second}
	header := http.Header{"Accept": {promAccept}, "Accept-Encoding": {"gzip"}, "X-Prometheus-Scrape-Timeout-Seconds": {o.scrapeTO}}

	// The error counters are read from the scrapes' own answers: another
	// scrape to read them would make calls of its own.
	var res scaleResult
	errorsSoFar := 0
	scrape := func() step {
		before := fakeCalls(control, fakeURL)
		settle(control, fakeURL)
		start := time.Now()
		body := getWith(client, base+"/metrics", header)
		s := step{took: time.Since(start), calls: fakeCalls(control, fakeURL) - before, up: countUp(body), conns: peakConns(control, fakeURL)}
		s.errors = countErrors(body) - errorsSoFar
		errorsSoFar += s.errors
		return s
	}
	res.cold = scrape()
	res.warm = scrape()

	before := fakeCalls(control, fakeURL)
	settle(control, fakeURL)
	probeErrors := 0
	var (
		next      atomic.Int64
		mu        sync.Mutex
		durations []time.Duration
		up        int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range min(o.probeConc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				t0 := time.Now()
				body := getWith(client, fmt.Sprintf("%s/probe?account=acct-%d", base, i), header)
				d := time.Since(t0)
				mu.Lock()
				durations = append(durations, d)
				up += countUp(body)
				probeErrors += countErrors(body)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.probeTotal = time.Since(start)
	slices.Sort(durations)
	res.probeP50 = percentile(durations, 50)
	res.probe = step{calls: fakeCalls(control, fakeURL) - before, up: up, errors: probeErrors - errorsSoFar, conns: peakConns(control, fakeURL)}
	res.conns = max(res.cold.conns, res.warm.conns, res.probe.conns)
	res.rss = peakRSS(exp.Pid())
	return res
}

// settle gives connections that the previous step abandoned a second to
// close, as they would between two scrapes, then starts a new peak.
func settle(c *http.Client, fakeURL string) {
	time.Sleep(time.Second)
	post(c, fakeURL+"/fake/connections/reset")
}

// peakConns is the most connections open at the fake since the last reset,
// less the control client's own (kept alive).
func peakConns(c *http.Client, fakeURL string) int {
	var v struct{ Peak int }
	if err := json.Unmarshal([]byte(getWith(c, fakeURL+"/fake/connections", nil)), &v); err != nil {
		fatal(err)
	}
	return v.Peak - 1
}

func fakeCalls(c *http.Client, fakeURL string) int {
	var m map[string]int
	if err := json.Unmarshal([]byte(getWith(c, fakeURL+"/fake/requests", nil)), &m); err != nil {
		fatal(err)
	}
	return m["balance"] + m["usage"]
}

// upRE matches an account up in the classic text format (1) and in
// OpenMetrics (1.0), which Prometheus's Accept header gets.
var upRE = regexp.MustCompile(`(?m)^sunor_api_up\{[^}]*\} 1(\.0)?$`)

func countUp(body string) int { return len(upRE.FindAllString(body, -1)) }

func countErrors(body string) int {
	n := 0.0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "sunor_api_errors_total{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += v
		}
	}
	return int(n)
}

var plainClient = &http.Client{Timeout: 60 * time.Second}

func get(url string, h http.Header) string { return getWith(plainClient, url, h) }

func getWith(c *http.Client, url string, h http.Header) string {
	req, _ := http.NewRequest("GET", url, nil)
	if h != nil {
		req.Header = h
	}
	resp, err := c.Do(req)
	if err != nil {
		fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		// Asked for by hand, so Go left it compressed.
		r = gunzip(resp.Body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		fatal(err)
	}
	if resp.StatusCode != 200 {
		fatal(fmt.Errorf("%s: status %d: %.200s", url, resp.StatusCode, b))
	}
	return string(b)
}

func post(c *http.Client, url string) {
	resp, err := c.Post(url, "", nil)
	if err != nil {
		fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// startProc starts a program and waits for the log line that gives its
// address.
func startProc(addrRE *regexp.Regexp, env []string, bin string, args ...string) (*testtool.Proc, string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, addr, err := testtool.LaunchServer(cmd, addrRE, time.Minute)
	if err != nil {
		fatal(err)
	}
	return p, strings.Replace(addr, "[::]", "127.0.0.1", 1)
}

// stopWait is how long a program may take to stop before it is killed.
const stopWait = 20 * time.Second

// peakRSS reads VmHWM, the peak resident set size, in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	fatal(fmt.Errorf("no VmHWM for pid %d", pid))
	return 0
}

func percentile(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	s = slices.Sorted(slices.Values(s))
	return s[(len(s)-1)*p/100]
}

func median(rs []row, f func(row) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func rangeOf(rs []row, f func(row) float64, format string) string {
	s := fmt.Sprintf(format, median(rs, f))
	if len(rs) > 1 {
		lo, hi := f(rs[0]), f(rs[0])
		for _, r := range rs {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
		s += fmt.Sprintf(" ("+format+"-"+format+")", lo, hi)
	}
	return s
}

func durRange(rs []row, f func(row) time.Duration) string {
	s := us(median(rs, func(r row) float64 { return float64(f(r)) }))
	if len(rs) > 1 {
		lo, hi := f(rs[0]), f(rs[0])
		for _, r := range rs {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
		s = strings.TrimSuffix(s, "µs") + " (" + strings.TrimSuffix(us(float64(lo)), "µs") + "-" + us(float64(hi)) + ")"
	}
	return s
}

func us(ns float64) string { return fmt.Sprintf("%.0fµs", ns/1e3) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func verdict(met bool, ok *bool) string {
	if met {
		return "met"
	}
	*ok = false
	return "MISSED"
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go unknown"
	}
	return strings.TrimSpace(string(out))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadtest:", err)
	os.Exit(2)
}

func gunzip(r io.Reader) io.Reader {
	z, err := gzip.NewReader(r)
	if err != nil {
		fatal(err)
	}
	return z
}

// writeAccounts writes an accounts file of n accounts acct-1 ... acct-n in
// dir, their keys key-1 ... key-n in the environment variables it returns.
func writeAccounts(dir, name string, n int) (cfg string, env []string) {
	var b bytes.Buffer
	b.WriteString("accounts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: acct-%d\n    api_key_env: SUNOR_KEY_%d\n", i, i)
		env = append(env, fmt.Sprintf("SUNOR_KEY_%d=key-%d", i, i))
	}
	cfg = filepath.Join(dir, name)
	if err := os.WriteFile(cfg, b.Bytes(), 0o600); err != nil {
		fatal(err)
	}
	return cfg, env
}
