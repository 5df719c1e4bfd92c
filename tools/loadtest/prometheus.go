package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

var lastSuccessRE = regexp.MustCompile(`(?m)^sunor_last_success_timestamp_seconds\{account="([^"]+)"[^}]*\} (\S+)$`)

// promRow scrapes like Prometheus: n accounts on an in-process fake whose
// answers take o.delay, an exporter with default flags, GET /metrics (or
// /probe of every account, spread evenly) every o.promInterval with the
// scrape-timeout header, for o.promDuration. The figures count the scrapes
// after the first minute.
func promRow(o options, dir string, n int, path string) bool {
	fake := fakesunor.New("")
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i+1)
		fake.SetAccount(keys[i], fakesunor.Account{Available: 950, Frozen: 10, CreditsUsed: 350, Delay: fakesunor.Duration(o.delay)})
	}
	fake.RateLimit = 1_000_000 // the reserve never stops a call here
	rec := testtool.NewCallRecorder(fake)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	defer fake.Close()

	cfg, env := writeAccounts(dir, fmt.Sprintf("prom-%d.yml", n), n)
	exp, addr := startProc(exporterAddrRE, append(env, o.exporterEnv...), o.bins["exporter"],
		append([]string{"--sunor.url=" + srv.URL, "--web.listen-address=127.0.0.1:0", "--config.file=" + cfg}, o.exporterFlags...)...)
	defer exp.Stop(20 * time.Second)
	base := "http://" + addr
	header := http.Header{"Accept": {promAccept}, "Accept-Encoding": {"gzip"}, "X-Prometheus-Scrape-Timeout-Seconds": {o.scrapeTO}}
	timeout, _ := strconv.ParseFloat(o.scrapeTO, 64)
	// Keep-alive connections, at most --web.max-requests: 10 000 probes in
	// 15 s over new connections would run out of ports.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 40, MaxIdleConnsPerHost: 40}, Timeout: time.Duration(timeout * float64(time.Second))}

	var (
		mu       sync.Mutex
		took     []time.Duration
		failed   int
		firstErr error
		minUp    = n
		oldest   float64
		begin    = time.Now()
		wg       sync.WaitGroup
		perProbe = o.promInterval / time.Duration(n)
	)
	// scrape is one target's scrape; up and ages are read from its body.
	scrape := func(url string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header = header
		start := time.Now()
		resp, err := client.Do(req)
		var body string
		if err == nil {
			var r io.Reader = resp.Body
			if resp.Header.Get("Content-Encoding") == "gzip" {
				r = gunzip(resp.Body)
			}
			buf := new(bytes.Buffer)
			_, err = buf.ReadFrom(r)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			body = buf.String()
		}
		d := time.Since(start)
		if o.promVerbose && path == "metrics" {
			fmt.Printf("%8s   scrape at %5.1fs: %s, %d up, err %v\n", "", start.Sub(begin).Seconds(), ms(d), countUp(body), err)
		}
		if time.Since(begin) < time.Minute {
			return
		}
		now := float64(time.Now().UnixNano()) / 1e9
		age := 0.0
		for _, m := range lastSuccessRE.FindAllStringSubmatch(body, -1) {
			at, _ := strconv.ParseFloat(m[2], 64)
			age = max(age, now-at)
		}
		up := countUp(body)
		mu.Lock()
		defer mu.Unlock()
		took = append(took, d)
		oldest = max(oldest, age)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		if path == "metrics" {
			minUp = min(minUp, up)
		} else if up == 0 {
			minUp-- // accounts seen down, over the run
		}
	}
	var rssSamples []int64
	for round := 0; time.Since(begin) < o.promDuration; round++ {
		next := begin.Add(time.Duration(round+1) * o.promInterval)
		if path == "metrics" {
			wg.Go(func() { scrape(base + "/metrics") })
		} else {
			for i := 1; i <= n; i++ {
				at := begin.Add(time.Duration(round)*o.promInterval + time.Duration(i-1)*perProbe)
				time.Sleep(time.Until(at))
				wg.Go(func() { scrape(fmt.Sprintf("%s/probe?account=acct-%d", base, i)) })
			}
		}
		time.Sleep(time.Until(next))
		rssSamples = append(rssSamples, peakRSS(exp.Pid()))
		if o.promVerbose {
			fmt.Printf("%8s   at %5.1fs: peak RSS so far %.1fMiB\n", "", time.Since(begin).Seconds(), float64(rssSamples[len(rssSamples)-1])/(1<<20))
		}
	}
	wg.Wait()
	if len(took) == 0 {
		fmt.Printf("%8d %-8s no scrape after the first minute: -prom-duration must be longer than 1m\n", n, "/"+path)
		return false
	}
	most, total := rec.BusiestKey()
	rss := slices.Max(rssSamples)
	slices.Sort(took)
	fmt.Printf("%8d %-8s %9s %9s %6d %8d %10.1fs %11d %9d %8d %7.1fMiB\n", n, "/"+path, ms(percentile(took, 50)), ms(slices.Max(took)), len(took), minUp,
		oldest, most, rec.MostInFlight(), total, float64(rss)/(1<<20))
	ok := failed == 0
	if failed > 0 {
		fmt.Printf("%8s   %d scrapes failed, the first: %v\n", "", failed, firstErr)
	}
	if n == 1000 && path == "metrics" {
		fmt.Printf("%8s   goals (1000 accounts): scrape max %s < 5s: %s; all up: %s; oldest %.1fs <= 60s: %s; <= 12 calls/min per key: %s; <= 32 in flight: %s; RSS <= 64 MiB: %s\n", "",
			ms(slices.Max(took)), verdict(slices.Max(took) < 5*time.Second, &ok), verdict(minUp == n, &ok), oldest, verdict(oldest <= 60, &ok),
			verdict(most <= 12, &ok), verdict(rec.MostInFlight() <= 32, &ok), verdict(rss <= 64<<20, &ok))
	}
	return ok
}

// prometheus is the table of promRow for each count.
func prometheus(o options, dir string) bool {
	fmt.Printf("\nLike Prometheus: default flags, --config.file with N accounts (one key each), every API answer %s late; every %s a scrape\n", o.delay, o.promInterval)
	fmt.Printf("with X-Prometheus-Scrape-Timeout-Seconds: %s (for /probe: every account once per interval, spread evenly), for %s.\n", o.scrapeTO, o.promDuration)
	fmt.Println("Figures over the scrapes after the first minute; calls/60s: the most calls of one key in any 60 s; in flight: the most calls at the fake at once.")
	fmt.Printf("\n%8s %-8s %9s %9s %6s %8s %11s %11s %9s %8s %10s\n", "accounts", "path", "p50", "max", "n", "up(min)", "oldest", "calls/60s", "inflight", "calls", "peakRSS")
	ok := true
	for _, n := range o.promAccounts {
		for _, p := range o.promPaths {
			ok = promRow(o, dir, n, p) && ok
		}
	}
	fmt.Println("up(min): for /metrics the fewest accounts up in one scrape; for /probe the accounts less the probes that showed up 0.")
	return ok
}
