// Command soak runs the real exporter for a while against a fake API that
// changes its failure mode every few seconds, scraped the way a busy
// Prometheus setup scrapes it (/metrics every 250 ms, /probe of every
// account every second), and reports what a user would watch for a leak
// or a runaway: resident memory, goroutines and open file descriptors at
// the start and the end, the most calls any one key received in any 60 s,
// log lines per minute, the longest log line, and whether any log line
// holds a piece of a key.
//
//	go run ./tools/soak -duration 10m
//
// Two of the accounts share one key, so the per-key ceiling is tested
// across accounts too. It exits 1 if a key received more calls in some
// 60 s than the ceiling allows, if a log line holds a key or is longer than
// 4 KiB, or if the exporter died.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
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

	"github.com/sunor-community/sunor_exporter/internal/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testtool"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long to soak")
	nAccounts := flag.Int("accounts", 50, "accounts in the exporter's accounts file (the last two share a key)")
	modeEvery := flag.Duration("mode-every", 3*time.Second, "how often the fake API switches to the next failure mode")
	ceiling := flag.Int("ceiling", 12, "the exporter's --sunor.max-calls-per-minute (its default)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *duration+3*time.Minute)
	defer cancel()
	if err := run(ctx, *duration, *nAccounts, *modeEvery, *ceiling); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func randomKey() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "soak-" + hex.EncodeToString(b)
}

func run(ctx context.Context, duration time.Duration, n int, modeEvery time.Duration, ceiling int) error {
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := testtool.BuildExporter(dir)
	if err != nil {
		return err
	}

	// The fake API, in process, with the requests recorded by key.
	fake := fakesunor.New("")
	defer fake.Close()
	var keys []string
	var cfg strings.Builder
	cfg.WriteString("accounts:\n")
	for i := range n {
		if i < n-1 || n < 2 {
			keys = append(keys, randomKey())
			fake.SetAccount(keys[len(keys)-1], fakesunor.Account{Available: 950, Frozen: 10, TasksCreated: 42, CreditsUsed: 350, CreditsToppedUp: 1000})
		}
		keyFile := filepath.Join(dir, "key-"+strconv.Itoa(i))
		if err := os.WriteFile(keyFile, []byte(keys[len(keys)-1]+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&cfg, "  - name: soak-%d\n    api_key_file: %s\n", i, keyFile)
	}
	rec := testtool.NewCallRecorder(fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fakeSrv := &http.Server{Handler: rec, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = fakeSrv.Serve(ln) }()
	defer fakeSrv.Close()
	fakeURL := "http://" + ln.Addr().String()
	fake.RedirectTo = fakeURL + "/elsewhere"
	cfgFile := filepath.Join(dir, "sunor.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return err
	}

	// The exporter, with its default flags.
	cmd := exec.CommandContext(ctx, bin,
		"--web.listen-address=127.0.0.1:0", "--sunor.url="+fakeURL, "--config.file="+cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	logs := &logStats{keys: keys, addr: make(chan string, 1)}
	go logs.read(stderr)
	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-exited:
		return fmt.Errorf("the exporter exited before listening: %v\n%s", err, logs.tail())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the exporter did not listen within 30 s\n%s", logs.tail())
	}
	base := "http://" + addr

	// Warm up: one healthy scrape, then the start figures.
	if _, err := get(ctx, base+"/metrics", "10"); err != nil {
		return err
	}
	start, err := selfStats(ctx, base)
	if err != nil {
		return err
	}
	logs.resetMinute()

	// The load: the fake's failure mode cycles; /metrics every 250 ms,
	// /probe of every account every second.
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	var wg sync.WaitGroup
	var scrapes, probes, scrapeErrors atomic.Int64
	var errMu sync.Mutex
	errKinds := map[string]int{}
	failed := func(err error) {
		if loadCtx.Err() != nil {
			return
		}
		scrapeErrors.Add(1)
		kind := err.Error()
		if i := strings.LastIndex(kind, ": "); i >= 0 {
			kind = kind[i+2:]
		}
		errMu.Lock()
		errKinds[kind]++
		errMu.Unlock()
	}
	modes := append([]string{fakesunor.FailNone}, fakesunor.FailModes...)
	wg.Go(func() {
		t := time.NewTicker(modeEvery)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			mode := modes[i%len(modes)]
			for _, k := range keys {
				fake.Update(k, func(a *fakesunor.Account) { a.Fail = mode })
			}
		}
	})
	every(loadCtx, &wg, 250*time.Millisecond, func() {
		if _, err := get(loadCtx, base+"/metrics", "0.25"); err != nil {
			failed(err)
		}
		scrapes.Add(1)
	})
	for i := range n {
		every(loadCtx, &wg, time.Second, func() {
			if _, err := get(loadCtx, base+"/probe?account=soak-"+strconv.Itoa(i), "1"); err != nil {
				failed(err)
			}
			probes.Add(1)
		})
	}
	var peakRSS float64
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			if s, err := selfStats(loadCtx, base); err == nil {
				peakRSS = max(peakRSS, s["process_resident_memory_bytes"])
			}
		}
	})
	wg.Wait()
	elapsed := duration

	end, err := selfStats(ctx, base)
	if err != nil {
		return fmt.Errorf("the exporter did not answer at the end: %w\n%s", err, logs.tail())
	}
	// Idle for a while: what the load left behind should drain.
	for _, k := range keys {
		fake.Update(k, func(a *fakesunor.Account) { a.Fail = fakesunor.FailNone })
	}
	fake.Close() // releases hanging answers
	time.Sleep(15 * time.Second)
	idle, err := selfStats(ctx, base)
	if err != nil {
		return err
	}
	most, total := rec.BusiestKey()
	lines, longest, leaks, perMinute := logs.summary(elapsed)

	fmt.Printf("soak: %s, %d accounts (%d keys), failure mode changed every %s, /metrics every 250 ms, /probe of each account every 1 s\n",
		duration, n, len(keys), modeEvery)
	fmt.Printf("%-28s %12s %12s %12s\n", "", "start", "end", "end+15s idle")
	fmt.Printf("%-28s %12.1f %12.1f %12.1f\n", "RSS (MiB)", start["process_resident_memory_bytes"]/(1<<20), end["process_resident_memory_bytes"]/(1<<20), idle["process_resident_memory_bytes"]/(1<<20))
	fmt.Printf("%-28s %12.0f %12.0f %12.0f\n", "goroutines", start["go_goroutines"], end["go_goroutines"], idle["go_goroutines"])
	fmt.Printf("%-28s %12.0f %12.0f %12.0f\n", "open fds", start["process_open_fds"], end["process_open_fds"], idle["process_open_fds"])
	fmt.Printf("peak RSS sampled every 5 s: %.1f MiB\n", peakRSS/(1<<20))
	fmt.Printf("scrapes of /metrics: %d, probes: %d, failed HTTP requests to the exporter: %d %v\n", scrapes.Load(), probes.Load(), scrapeErrors.Load(), errKinds)
	fmt.Printf("API calls: %d in all; the most for one key in any 60 s: %d (ceiling %d)\n", total, most, ceiling)
	fmt.Printf("log lines: %d (%.1f a minute, the busiest minute %d), longest %d bytes, lines holding a piece of a key: %d\n",
		lines, float64(lines)/elapsed.Minutes(), perMinute, longest, leaks)

	var fails []string
	if most > ceiling {
		fails = append(fails, fmt.Sprintf("a key received %d calls within 60 s, more than the ceiling of %d", most, ceiling))
	}
	if leaks > 0 {
		fails = append(fails, fmt.Sprintf("%d log lines hold a piece of a key", leaks))
	}
	if longest > 4096 {
		fails = append(fails, fmt.Sprintf("a log line of %d bytes", longest))
	}
	if len(fails) > 0 {
		return fmt.Errorf("%s", strings.Join(fails, "; "))
	}
	fmt.Println("ok")
	return nil
}

// every runs f every d until ctx ends, never two at once.
func every(ctx context.Context, wg *sync.WaitGroup, d time.Duration, f func()) {
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	})
}

// logStats reads the exporter's log.
type logStats struct {
	keys []string
	addr chan string

	mu          sync.Mutex
	lines       int
	longest     int
	leaks       int
	minuteStart time.Time
	minuteLines int
	busiest     int
	last        []string
}

var listeningRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

func (l *logStats) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := listeningRE.FindStringSubmatch(line); m != nil {
			select {
			case l.addr <- m[1]:
			default:
			}
		}
		l.mu.Lock()
		l.lines++
		l.longest = max(l.longest, len(line))
		if holdsKey(line, l.keys) {
			l.leaks++
		}
		if now := time.Now(); now.Sub(l.minuteStart) >= time.Minute {
			l.minuteStart, l.minuteLines = now, 0
		}
		l.minuteLines++
		l.busiest = max(l.busiest, l.minuteLines)
		l.last = append(l.last, line)
		if len(l.last) > 10 {
			l.last = l.last[1:]
		}
		l.mu.Unlock()
	}
}

func (l *logStats) resetMinute() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines, l.busiest, l.minuteLines, l.minuteStart = 0, 0, 0, time.Now()
}

func (l *logStats) summary(time.Duration) (lines, longest, leaks, busiest int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines, l.longest, l.leaks, l.busiest
}

func (l *logStats) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// holdsKey reports whether line holds any 10-character piece of a key, in
// any case.
func holdsKey(line string, keys []string) bool {
	low := strings.ToLower(line)
	for _, k := range keys {
		k = strings.ToLower(k)
		for i := 0; i+10 <= len(k); i++ {
			if strings.Contains(low, k[i:i+10]) {
				return true
			}
		}
	}
	return false
}

func get(ctx context.Context, u, timeout string) (string, error) {
	return testtool.Scrape(ctx, u, timeout)
}

// selfStats reads the exporter's own go_goroutines,
// process_resident_memory_bytes and process_open_fds.
func selfStats(ctx context.Context, base string) (map[string]float64, error) {
	body, err := get(ctx, base+"/metrics", "10")
	if err != nil {
		return nil, err
	}
	want := []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"}
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(want, name) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	if len(out) != len(want) {
		return nil, fmt.Errorf("the exporter's own metrics lack some of %v", want)
	}
	return out, nil
}
