// Command budgetload checks, with the real binaries, that a tight scrape
// loop cannot spend a key's request budget: it runs the fake API and the
// exporter with its default flags on loopback, scrapes /metrics back to
// back -scrapes times against a healthy API and then against a failing one
// (a fresh exporter each), and counts the calls the fake received. It
// exits 1 if either run made more calls than the ceiling, or if the
// healthy run showed the balance in fewer than 95 % of its scrapes.
//
// Then, for -window, a scrape every -interval of an exporter with default
// flags (usage on) and three accounts: two share one key, the third has
// its own. The fake records when each key was called. It exits 1 if a key
// had more calls than the ceiling in any 60 s, or if, after the first
// minute, a scrape showed a balance more than 60 s old or usage never
// answered.
//
//	go run ./tools/budgetload
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

const key = "budget-load-key"

func main() {
	scrapes := flag.Int("scrapes", 100, "back-to-back scrapes per run")
	ceiling := flag.Int("ceiling", 12, "the exporter's --sunor.max-calls-per-minute (its default)")
	window := flag.Duration("window", 90*time.Second, "how long the shared-key and fresh-balance run scrapes (more than a minute)")
	interval := flag.Duration("interval", 250*time.Millisecond, "how often that run scrapes /metrics")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+*window)
	defer cancel()
	if err := run(ctx, *scrapes, *ceiling, *window, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "budgetload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, scrapes, ceiling int, window, interval time.Duration) error {
	dir, err := os.MkdirTemp("", "budgetload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := testtool.BuildExporter(dir); err != nil {
		return err
	}
	if _, err := testtool.BuildProgram(dir, "./cmd/fakesunor"); err != nil {
		return err
	}
	fmt.Printf("%-8s %8s %10s %12s %14s\n", "api", "scrapes", "api calls", "ceiling", "with balance")
	failed := false
	for _, failing := range []bool{false, true} {
		calls, withBalance, err := oneRun(ctx, dir, scrapes, failing)
		if err != nil {
			return err
		}
		api := "healthy"
		if failing {
			api = "failing"
		}
		fmt.Printf("%-8s %8d %10d %12d %14d\n", api, scrapes, calls, ceiling, withBalance)
		// The run lasts less than a minute: at most the ceiling.
		if calls > ceiling {
			fmt.Printf("FAIL: the %s run made %d calls for %d scrapes; the ceiling is %d a minute\n", api, calls, scrapes, ceiling)
			failed = true
		}
		if !failing && withBalance*100 < 95*scrapes {
			fmt.Printf("FAIL: the healthy run showed the balance in %d of %d scrapes, want at least 95 %%\n", withBalance, scrapes)
			failed = true
		}
		if failing && withBalance != 0 {
			fmt.Printf("FAIL: the failing run showed a balance in %d scrapes, though the API never answered\n", withBalance)
			failed = true
		}
	}
	if !windowRun(ctx, dir, ceiling, window, interval) {
		failed = true
	}
	if failed {
		return fmt.Errorf("the budget was not kept")
	}
	fmt.Println("ok: no key had more calls than the ceiling in any 60 s, and the balance stayed fresh")
	return nil
}

// oneRun starts the fake and the exporter, scrapes, and returns the calls
// the fake received and how many scrapes showed the balance.
func oneRun(ctx context.Context, dir string, scrapes int, failing bool) (calls, withBalance int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var exited []<-chan struct{}
	defer func() {
		// Stop both processes and wait until they are gone, so that none
		// outlives this program, which may exit right after.
		cancel()
		for _, done := range exited {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
	}()
	fake, fakeDone, err := start(ctx, filepath.Join(dir, "fakesunor"), nil, regexp.MustCompile(`listening on (http://\S+)`),
		"--listen=127.0.0.1:0", "--key="+key)
	exited = append(exited, fakeDone)
	if err != nil {
		return 0, 0, fmt.Errorf("fake API: %w", err)
	}
	if failing {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, fake+"/fake/accounts/"+key, strings.NewReader(`{"fail":"server_error"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		resp.Body.Close()
	}
	exp, expDone, err := start(ctx, filepath.Join(dir, "sunor_exporter"), []string{"SUNOR_API_KEY=" + key}, regexp.MustCompile(`msg="Listening on" address=(\S+)`),
		"--web.listen-address=127.0.0.1:0", "--sunor.url="+fake)
	exited = append(exited, expDone)
	if err != nil {
		return 0, 0, fmt.Errorf("exporter: %w", err)
	}
	for range scrapes {
		body, err := get(ctx, "http://"+exp+"/metrics")
		if err != nil {
			return 0, 0, err
		}
		if strings.Contains(body, "\nsunor_credits_available{") {
			withBalance++
		}
	}
	var requests map[string]int
	body, err := get(ctx, fake+"/fake/requests")
	if err != nil {
		return 0, 0, err
	}
	if err := json.Unmarshal([]byte(body), &requests); err != nil {
		return 0, 0, fmt.Errorf("/fake/requests: %w", err)
	}
	for _, n := range requests {
		calls += n
	}
	return calls, withBalance, nil
}

// start runs bin until ctx ends and returns the address its log announces
// (the first submatch of ready), waiting at most 30 s for it, and a channel
// closed when the process has exited.
func start(ctx context.Context, bin string, env []string, ready *regexp.Regexp, args ...string) (string, <-chan struct{}, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, addr, err := testtool.LaunchServer(cmd, ready, 30*time.Second)
	if err != nil {
		done := make(chan struct{})
		close(done) // LaunchServer has stopped it
		return "", done, err
	}
	return addr, p.Exited(), nil
}

func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return testtool.Scrape(ctx, url, "10")
}
