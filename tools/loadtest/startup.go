package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// startupWait is how long one start may take, to listening and then to a
// scrape with every account answered, before the row is given up.
const startupWait = 5 * time.Minute

// startupKey is account i's key: the load script's key-N, or 30 characters.
func startupKey(i int, long bool) string {
	if long {
		return fmt.Sprintf("sk-live-%022d", i)
	}
	return fmt.Sprintf("key-%d", i)
}

// startupAccounts writes n accounts acct-1 … acct-n: an accounts file with
// the keys in api_key_env variables (returned), or a key directory of one
// file per account. It returns the exporter's flag and environment.
func startupAccounts(dir string, n int, long, keyDir bool) (flag string, env []string) {
	if keyDir {
		d := filepath.Join(dir, fmt.Sprintf("keys-%d-%t", n, long))
		if err := os.MkdirAll(d, 0o700); err != nil {
			fatal(err)
		}
		for i := 1; i <= n; i++ {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("acct-%d", i)), []byte(startupKey(i, long)+"\n"), 0o600); err != nil {
				fatal(err)
			}
		}
		return "--sunor.api-key-directory=" + d, nil
	}
	var b bytes.Buffer
	b.WriteString("accounts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: acct-%d\n    api_key_env: SUNOR_KEY_%d\n", i, i)
		env = append(env, fmt.Sprintf("SUNOR_KEY_%d=%s", i, startupKey(i, long)))
	}
	cfg := filepath.Join(dir, fmt.Sprintf("startup-%d-%t.yml", n, long))
	if err := os.WriteFile(cfg, b.Bytes(), 0o600); err != nil {
		fatal(err)
	}
	return "--config.file=" + cfg, env
}

// startupRow starts one exporter and times it: from exec to its "Listening
// on" line, and to the end of the first /metrics scrape that shows every
// account up (scrapes run back to back, each with the scrape-timeout
// header). It returns false when either did not come within startupWait.
func startupRow(o options, dir string, n int, long, keyDir bool) bool {
	fake := fakesunor.New("")
	for i := 1; i <= n; i++ {
		fake.SetAccount(startupKey(i, long), fakesunor.Account{Available: 950, Frozen: 10, CreditsUsed: 350, Delay: fakesunor.Duration(o.startupDelay)})
	}
	fake.RateLimit = 1_000_000 // the reserve never stops a call here
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	flag, env := startupAccounts(dir, n, long, keyDir)
	keys, source := "key-N", "accounts file"
	if long {
		keys = "30 chars"
	}
	if keyDir {
		source = "key directory"
	}
	fmt.Printf("%8d %-9s %-14s ", n, keys, source)

	cmd := exec.Command(o.bins["exporter"], "--sunor.url="+srv.URL, "--web.listen-address=127.0.0.1:0", flag)
	cmd.Env = append(append(os.Environ(), env...), o.exporterEnv...)
	began := time.Now()
	p, addr, err := testtool.LaunchServer(cmd, exporterAddrRE, startupWait)
	if err != nil {
		fmt.Printf("did not listen within %s: %v\n", startupWait, err)
		return false
	}
	defer p.Stop(stopWait)
	listening := time.Since(began)
	header := http.Header{"Accept": {promAccept}, "Accept-Encoding": {"gzip"}, "X-Prometheus-Scrape-Timeout-Seconds": {o.scrapeTO}}
	client := &http.Client{Timeout: time.Minute}
	up, scrapes := 0, 0
	for up < n && time.Since(began) < startupWait {
		up = countUp(getWith(client, "http://"+addr+"/metrics", header))
		scrapes++
	}
	answered := time.Since(began)
	fmt.Printf("%10s %12s %8d %8d %8.1fMiB\n", ms(listening), ms(answered), scrapes, up, float64(peakRSS(p.Pid()))/(1<<20))
	if up < n {
		fmt.Printf("%8s   only %d of %d accounts up after %s\n", "", up, n, startupWait)
		return false
	}
	return true
}

// startup is the start-up table: each count, short and long keys, from an
// accounts file and from a key directory.
func startup(o options, dir string) bool {
	fmt.Printf("\nStart-up: default flags, N accounts, an in-process fake answering after %s; time from exec to \"Listening on\",\n", o.startupDelay)
	fmt.Printf("and to the end of the first /metrics scrape (back to back, scrape timeout %ss) with every account up.\n\n", o.scrapeTO)
	fmt.Printf("%8s %-9s %-14s %10s %12s %8s %8s %11s\n", "accounts", "keys", "source", "listening", "all answered", "scrapes", "up", "peakRSS")
	ok := true
	for _, n := range o.startupAccounts {
		for _, long := range []bool{false, true} {
			for _, keyDir := range []bool{false, true} {
				ok = startupRow(o, dir, n, long, keyDir) && ok
			}
		}
	}
	return ok
}
