// Command loadtest measures the exporter next to the API it wraps: it starts
// the fake Sunor API and the exporter as separate processes on loopback,
// then, for a few seconds, alternates one direct balance call to the fake
// with one scrape of the exporter (sequentially, as Prometheus scrapes), and
// reports the latency percentiles of both, their ratio, and the exporter's
// peak resident memory (VmHWM).
//
//	go run ./tools/loadtest -duration 5s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long to measure each configuration")
	check := flag.Bool("check", false, "exit 1 if a target is missed (scrape p50 <= 5x direct call with one API call per scrape, peak RSS <= 20 MiB)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "sunor-load")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	exporterBin, fakeBin := filepath.Join(dir, "sunor_exporter"), filepath.Join(dir, "fakesunor")
	for bin, pkg := range map[string]string{exporterBin: ".", fakeBin: "./cmd/fakesunor"} {
		// Built as releases and the Dockerfile build it: static, stripped.
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fatal(fmt.Errorf("go build %s: %v\n%s", pkg, err, out))
		}
	}

	fake, fakeAddr := startProc(regexp.MustCompile(`listening on http://(\S+)`), fakeBin, "-listen", "127.0.0.1:0", "-key", "load-key")
	defer stop(fake)

	fmt.Printf("%d CPUs; each configuration: %s of alternating direct calls and scrapes\n\n", numCPU(), *duration)
	fmt.Printf("%-32s %9s %9s %9s %9s %9s %9s %7s %9s\n", "configuration", "direct50", "direct99", "scrape50", "scrape90", "scrape99", "n", "ratio", "peakRSS")
	ok := true
	for _, cfg := range []struct {
		name string
		args []string
	}{
		{"default (balance + usage)", nil},
		{"--no-collector.usage", []string{"--no-collector.usage"}},
		{"--web.disable-exporter-metrics", []string{"--web.disable-exporter-metrics"}},
	} {
		args := append([]string{"--sunor.url=http://" + fakeAddr, "--web.listen-address=127.0.0.1:0"}, cfg.args...)
		exp, expAddr := startProc(regexp.MustCompile(`msg="Listening on" address=(\S+)`), exporterBin, args...)
		r := measure("http://"+fakeAddr, "http://"+expAddr, *duration)
		rss := peakRSS(exp.Process.Pid)
		stop(exp)
		ratio := float64(r.scrape[len(r.scrape)/2]) / float64(r.direct[len(r.direct)/2])
		fmt.Printf("%-32s %9s %9s %9s %9s %9s %9d %6.1fx %6.1fMiB\n", cfg.name,
			pct(r.direct, 50), pct(r.direct, 99), pct(r.scrape, 50), pct(r.scrape, 90), pct(r.scrape, 99),
			len(r.scrape), ratio, float64(rss)/(1<<20))
		// The latency target is for a scrape that makes one API call, as
		// the direct call does; the default makes two (balance and usage).
		if (ratio > 5 && cfg.args != nil) || rss > 20<<20 {
			ok = false
		}
	}
	if *check && !ok {
		fmt.Println("\na target was missed")
		os.Exit(1)
	}
}

type results struct{ direct, scrape []time.Duration }

func measure(fakeURL, expURL string, d time.Duration) results {
	c := &http.Client{}
	direct, _ := http.NewRequest("GET", fakeURL+"/api/v1/account/balance", nil)
	direct.Header.Set("x-api-key", "load-key")
	scrape, _ := http.NewRequest("GET", expURL+"/metrics", nil)
	// What Prometheus sends.
	scrape.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
	scrape.Header.Set("Accept-Encoding", "gzip")
	scrape.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")

	for range 200 { // warm up connections and caches
		timed(c, direct)
		timed(c, scrape)
	}
	var r results
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		r.direct = append(r.direct, timed(c, direct))
		r.scrape = append(r.scrape, timed(c, scrape))
	}
	slices.Sort(r.direct)
	slices.Sort(r.scrape)
	return r
}

func timed(c *http.Client, req *http.Request) time.Duration {
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fatal(fmt.Errorf("%s: status %d", req.URL, resp.StatusCode))
	}
	return time.Since(start)
}

func pct(s []time.Duration, p int) string {
	d := s[(len(s)-1)*p/100]
	return fmt.Sprintf("%.0fµs", float64(d)/1e3)
}

// startProc starts a program and waits for the log line that gives its
// address.
func startProc(addrRE *regexp.Regexp, bin string, args ...string) (*exec.Cmd, string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "SUNOR_API_KEY=load-key")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return cmd, m[1]
		}
	}
	fatal(fmt.Errorf("%s exited before saying its address", bin))
	return nil, ""
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

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

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadtest:", err)
	os.Exit(2)
}
