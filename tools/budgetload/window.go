package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

var (
	lastSuccessRE = regexp.MustCompile(`(?m)^sunor_last_success_timestamp_seconds\{account="([^"]+)"[^}]*\} (\S+)$`)
	upRE          = regexp.MustCompile(`(?m)^sunor_api_up\{account="([^"]+)"[^}]*\} (\S+)$`)
	usageRE       = regexp.MustCompile(`(?m)^sunor_credits_used_total\{account="([^"]+)"`)
)

// windowRun scrapes an exporter with default flags every interval for d:
// accounts shared-1 and shared-2 have one key, own another. It prints the
// figures and reports whether every check held.
func windowRun(ctx context.Context, dir string, ceiling int, d, interval time.Duration) bool {
	const sharedKey, ownKey = "budget-load-shared", "budget-load-own"
	fake := fakesunor.New(sharedKey)
	fake.SetAccount(ownKey, fakesunor.Account{Available: 7, CreditsUsed: 3})
	rec := testtool.NewCallRecorder(fake)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	defer fake.Close()

	cfg := filepath.Join(dir, "accounts.yml")
	if err := os.WriteFile(cfg, []byte(`accounts:
  - {name: shared-1, api_key_env: BL_SHARED}
  - {name: shared-2, api_key_env: BL_SHARED}
  - {name: own, api_key_env: BL_OWN}
`), 0o600); err != nil {
		fmt.Println("FAIL:", err)
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	exp, done, err := start(ctx, filepath.Join(dir, "sunor_exporter"), []string{"BL_SHARED=" + sharedKey, "BL_OWN=" + ownKey},
		regexp.MustCompile(`msg="Listening on" address=(\S+)`), "--web.listen-address=127.0.0.1:0", "--sunor.url="+srv.URL, "--config.file="+cfg)
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}()
	if err != nil {
		fmt.Println("FAIL: exporter:", err)
		return false
	}

	fmt.Printf("\nA scrape every %s for %s, default flags (usage on); shared-1 and shared-2 share a key, own has its own.\n", interval, d)
	begin := time.Now()
	oldest := map[string]float64{}
	down := map[string]int{}
	withUsage, scrapes := 0, 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for time.Since(begin) < d {
		body, err := get(ctx, "http://"+exp+"/metrics")
		if err != nil {
			fmt.Println("FAIL:", err)
			return false
		}
		if time.Since(begin) >= time.Minute {
			scrapes++
			now := float64(time.Now().UnixNano()) / 1e9
			for _, m := range lastSuccessRE.FindAllStringSubmatch(body, -1) {
				at, _ := strconv.ParseFloat(m[2], 64)
				oldest[m[1]] = max(oldest[m[1]], now-at)
			}
			for _, m := range upRE.FindAllStringSubmatch(body, -1) {
				if m[2] != "1" {
					down[m[1]]++
				}
			}
			for _, m := range usageRE.FindAllStringSubmatch(body, -1) {
				if m[1] == "own" {
					withUsage++
				}
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			fmt.Println("FAIL:", ctx.Err())
			return false
		}
	}
	ok := true
	fmt.Printf("%-8s %10s %16s %22s %12s\n", "key", "api calls", "most in any 60s", "oldest balance shown", "scrapes down")
	for _, k := range []struct{ key, accounts string }{{sharedKey, "shared-1"}, {ownKey, "own"}} {
		most, total := rec.Busiest(k.key)
		age := oldest[k.accounts]
		downs := down[k.accounts]
		if k.key == sharedKey {
			age = max(age, oldest["shared-2"])
			downs += down["shared-2"]
		}
		name := "shared"
		if k.key == ownKey {
			name = "own"
		}
		fmt.Printf("%-8s %10d %16d %21.1fs %12d\n", name, total, most, age, downs)
		if most > ceiling {
			fmt.Printf("FAIL: the %s key had %d calls within 60 s; the ceiling is %d\n", name, most, ceiling)
			ok = false
		}
		if age > 60 || downs > 0 {
			fmt.Printf("FAIL: after the first minute, a balance of the %s key was shown %.1f s old (want at most 60) and down in %d scrapes (want 0)\n", name, age, downs)
			ok = false
		}
	}
	fmt.Printf("usage of own answered in %d of %d scrapes after the first minute\n", withUsage, scrapes)
	if withUsage == 0 {
		fmt.Println("FAIL: usage never answered: it should get what the balance leaves")
		ok = false
	}
	return ok
}
