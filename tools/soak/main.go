// Command soak runs the real exporter for a while against a fake API whose
// keys fail at random, while its accounts churn as they do in a busy
// installation, and reports what a user would watch for a leak or a
// runaway:
//
//   - accounts: -accounts of them, half in the accounts file (api_key_file),
//     half in a key directory (api_key_directory); two share a key;
//   - the fake API: every -mode-every, each key gets a random failure mode
//     (most answer, the rest fail in any of fakesunor's ways: 429, 5xx,
//     hanging, huge or endless bodies, a key echoed back...);
//   - churn, every -churn-every: a key rotated (atomic rename) to a fresh
//     key or to another account's key, in the key directory or in a key
//     file of the accounts file; a key file added to or removed from the
//     directory; an account added to or removed from the accounts file,
//     followed by a reload (SIGHUP or POST /-/reload);
//   - scrapes: /metrics every 250 ms, /probe of a random account every
//     100 ms.
//
// At the end it prints resident memory, goroutines and open file
// descriptors at the start, every 5 s and after 15 s idle; the most calls
// any one key received in any 60 s, counted on the fake API's side per key
// actually sent (rotated keys included); log lines per minute, the longest
// line, and the lines holding a piece of any key ever used.
//
//	go run ./tools/soak -duration 10m
//
// It exits 1 if a key received more calls in some 60 s than the ceiling
// allows, if a log line holds a piece of a key or is longer than 4 KiB, if
// memory, goroutines or descriptors grew in the second half of the run
// beyond the first half's peak (with a margin), or if the exporter died.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
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
	"syscall"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// options are the soak's flags.
type options struct {
	duration, modeEvery, churnEvery time.Duration
	accounts, ceiling               int
	failShare                       float64
	seed                            uint64
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to soak")
	flag.IntVar(&o.accounts, "accounts", 220, "accounts at the start: half in the accounts file, half in the key directory (two share a key)")
	flag.DurationVar(&o.modeEvery, "mode-every", 3*time.Second, "how often each key of the fake API draws its failure mode again")
	flag.Float64Var(&o.failShare, "fail", 0.3, "the share of keys that fail, drawn at every -mode-every")
	flag.DurationVar(&o.churnEvery, "churn-every", time.Second, "how often a key is rotated, an account added or removed, or the accounts reloaded")
	flag.IntVar(&o.ceiling, "ceiling", 12, "the exporter's --sunor.max-calls-per-minute (its default)")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed; 0 draws one (printed, to run the same soak again)")
	flag.Parse()
	if o.seed == 0 {
		o.seed = mrand.Uint64()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+3*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func randomKey() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "soak-" + hex.EncodeToString(b)
}

// world is the soak's side of the exporter's accounts: the key files, the
// key directory, the accounts file, and the keys the fake API knows.
type world struct {
	root, keyDir, cfgFile string
	fake                  *fakesunor.Server
	logs                  *logStats

	mu      sync.Mutex
	rng     *mrand.Rand
	files   []string          // names of the accounts file's accounts
	dir     []string          // names of the key directory's files
	keyOf   map[string]string // the key each key file holds, by path
	keys    []string          // every key the fake API knows
	next    int               // for the next account's name
	stale   []string          // key files of removed accounts, deleted at the next churn
	done    map[string]int    // churn actions done, by kind
	signals int               // reloads asked for by SIGHUP
}

func (w *world) filePath(name string) string { return filepath.Join(w.root, "keys", name) }
func (w *world) dirPath(name string) string  { return filepath.Join(w.keyDir, name) }

// newKey makes a key the fake API answers for; w.mu is held.
func (w *world) newKey() string {
	k := randomKey()
	w.fake.SetAccount(k, fakesunor.Account{Available: 950, Frozen: 10, TasksCreated: 42, CreditsUsed: 350, CreditsToppedUp: 1000})
	w.keys = append(w.keys, k)
	w.logs.addKey(k)
	return k
}

// writeKey puts key in path with an atomic rename, as the docs ask; w.mu is
// held.
func (w *world) writeKey(path, key string) error {
	tmp := filepath.Join(w.root, "tmp-key")
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	w.keyOf[path] = key
	return nil
}

// writeConfig writes the accounts file, with an atomic rename; w.mu is held.
func (w *world) writeConfig() error {
	var b strings.Builder
	fmt.Fprintf(&b, "api_key_directory: %s\naccounts:\n", w.keyDir)
	for _, name := range w.files {
		fmt.Fprintf(&b, "  - name: %s\n    api_key_file: %s\n", name, w.filePath(name))
	}
	tmp := filepath.Join(w.root, "tmp-config")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, w.cfgFile)
}

// setUp writes n accounts: half key files of the accounts file, half files
// of the key directory; the last two share a key.
func (w *world) setUp(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range []string{filepath.Join(w.root, "keys"), w.keyDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var key string
	for i := range n {
		if i < n-1 || n < 2 {
			key = w.newKey()
		}
		w.next++
		if i%2 == 0 {
			name := "file-" + strconv.Itoa(w.next)
			w.files = append(w.files, name)
			if err := w.writeKey(w.filePath(name), key); err != nil {
				return err
			}
		} else {
			name := "dir-" + strconv.Itoa(w.next)
			w.dir = append(w.dir, name)
			if err := w.writeKey(w.dirPath(name), key); err != nil {
				return err
			}
		}
	}
	return w.writeConfig()
}

// names returns every account's name, as the exporter will have them once
// it has caught up.
func (w *world) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(slices.Clone(w.files), w.dir...)
}

// drawModes gives each key the fake knows a failure mode: none for most,
// one of fakesunor's failures for failShare of them.
func (w *world) drawModes(failShare float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range w.keys {
		mode := fakesunor.FailNone
		if w.rng.Float64() < failShare {
			mode = fakesunor.FailModes[w.rng.IntN(len(fakesunor.FailModes))]
		}
		w.fake.Update(k, func(a *fakesunor.Account) { a.Fail = mode })
	}
}

// churn makes one change of the accounts, as an operator or a secret
// manager would; reload asks the exporter to read the accounts file again.
func (w *world) churn(n int, reload func(bySignal bool) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.stale {
		if err := os.Remove(p); err != nil {
			return err
		}
		delete(w.keyOf, p)
	}
	w.stale = nil
	// another is the key of another account, at random.
	another := func(path string) string {
		paths := slices.Sorted(func(yield func(string) bool) {
			for p := range w.keyOf {
				if p != path && !yield(p) {
					return
				}
			}
		})
		return w.keyOf[paths[w.rng.IntN(len(paths))]]
	}
	pick := func(names []string) string { return names[w.rng.IntN(len(names))] }
	var kind string
	switch r := w.rng.IntN(100); {
	case r < 50 && len(w.dir)+len(w.files) > 1: // a rotation: to a fresh key, or to another account's
		var path string
		if r%2 == 0 && len(w.files) > 0 || len(w.dir) == 0 {
			path, kind = w.filePath(pick(w.files)), "rotate a key file of the accounts file"
		} else {
			path, kind = w.dirPath(pick(w.dir)), "rotate in the key directory"
		}
		var key string
		if r < 25 {
			key, kind = another(path), kind+" to another account's key"
		} else {
			key = w.newKey()
		}
		if err := w.writeKey(path, key); err != nil {
			return err
		}
	case r < 70: // the key directory: a file added, or removed
		if len(w.dir) > max(n/4, 1) && (r%2 == 0 || len(w.dir) > 3*n/4) {
			i := w.rng.IntN(len(w.dir))
			path := w.dirPath(w.dir[i])
			w.dir = slices.Delete(w.dir, i, i+1)
			if err := os.Remove(path); err != nil {
				return err
			}
			delete(w.keyOf, path)
			kind = "remove from the key directory"
		} else {
			w.next++
			name := "dir-" + strconv.Itoa(w.next)
			if err := w.writeKey(w.dirPath(name), w.newKey()); err != nil {
				return err
			}
			w.dir = append(w.dir, name)
			kind = "add to the key directory"
		}
	case r < 90: // the accounts file: an account added, or removed; reloaded
		if len(w.files) > max(n/4, 1) && (r%2 == 0 || len(w.files) > 3*n/4) {
			i := w.rng.IntN(len(w.files))
			// Its key file goes once the reload has read the file
			// without it: a reload must not fail for it.
			w.stale = append(w.stale, w.filePath(w.files[i]))
			w.files = slices.Delete(w.files, i, i+1)
			kind = "remove from the accounts file, reload"
		} else {
			w.next++
			name := "file-" + strconv.Itoa(w.next)
			if err := w.writeKey(w.filePath(name), w.newKey()); err != nil {
				return err
			}
			w.files = append(w.files, name)
			kind = "add to the accounts file, reload"
		}
		if err := w.writeConfig(); err != nil {
			return err
		}
		if err := reload(r%2 == 0); err != nil {
			return err
		}
	default:
		kind = "reload, unchanged"
		if err := reload(r%2 == 0); err != nil {
			return err
		}
	}
	w.done[kind]++
	return nil
}

// sample is the exporter's own figures at one time.
type sample struct {
	at  time.Duration // since the load began
	rss float64       // bytes
	gor float64       // goroutines
	fds float64
}

func run(ctx context.Context, o options) error {
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
	logs := &logStats{addr: make(chan string, 1)}
	w := &world{root: dir, keyDir: filepath.Join(dir, "keydir"), cfgFile: filepath.Join(dir, "sunor.yml"), fake: fake, logs: logs,
		rng: mrand.New(mrand.NewPCG(o.seed, 23)), keyOf: map[string]string{}, done: map[string]int{}}
	if err := w.setUp(o.accounts); err != nil {
		return err
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

	// The exporter, with its default flags.
	cmd := exec.CommandContext(ctx, bin,
		"--web.listen-address=127.0.0.1:0", "--sunor.url="+fakeURL, "--config.file="+w.cfgFile)
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

	loadCtx, stopLoad := context.WithTimeout(ctx, o.duration)
	defer stopLoad()
	began := time.Now()
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
	every(loadCtx, &wg, o.modeEvery, func() { w.drawModes(o.failShare) })
	var churnErr error
	reload := func(bySignal bool) error {
		if bySignal {
			w.signals++
			return cmd.Process.Signal(syscall.SIGHUP)
		}
		code, body, err := testtool.Request(loadCtx, http.MethodPost, base+"/-/reload", nil)
		if err == nil && code != http.StatusOK && loadCtx.Err() == nil {
			err = fmt.Errorf("POST /-/reload: %d %s", code, strings.TrimSpace(body))
		}
		if loadCtx.Err() != nil {
			return nil
		}
		return err
	}
	every(loadCtx, &wg, o.churnEvery, func() {
		if churnErr == nil {
			churnErr = w.churn(o.accounts, reload)
		}
	})
	every(loadCtx, &wg, 250*time.Millisecond, func() {
		if _, err := get(loadCtx, base+"/metrics", "0.25"); err != nil {
			failed(err)
		}
		scrapes.Add(1)
	})
	probeRng := mrand.New(mrand.NewPCG(o.seed, 25))
	every(loadCtx, &wg, 100*time.Millisecond, func() {
		names := w.names()
		name := names[probeRng.IntN(len(names))]
		// A 400 is an account the exporter does not know (yet, or any
		// more): the key directory is read every 30 s.
		if _, err := get(loadCtx, base+"/probe?account="+name, "1"); err != nil && !strings.Contains(err.Error(), ": 400 ") {
			failed(err)
		}
		probes.Add(1)
	})
	var samples []sample
	every(loadCtx, &wg, 5*time.Second, func() {
		if s, err := selfStats(loadCtx, base); err == nil {
			samples = append(samples, sample{time.Since(began), s["process_resident_memory_bytes"], s["go_goroutines"], s["process_open_fds"]})
		}
	})
	wg.Wait()
	if churnErr != nil {
		return fmt.Errorf("churn: %w", churnErr)
	}

	end, err := selfStats(ctx, base)
	if err != nil {
		return fmt.Errorf("the exporter did not answer at the end: %w\n%s", err, logs.tail())
	}
	// Idle for a while: what the load left behind should drain.
	w.mu.Lock()
	for _, k := range w.keys {
		fake.Update(k, func(a *fakesunor.Account) { a.Fail = fakesunor.FailNone })
	}
	w.mu.Unlock()
	fake.Close() // releases hanging answers
	time.Sleep(15 * time.Second)
	idle, err := selfStats(ctx, base)
	if err != nil {
		return err
	}
	most, total := rec.BusiestKey()
	st := logs.summary()

	fmt.Printf("soak: %s, seed %d, %d accounts at the start (half in a key directory), %d at the end, %d keys used; each key draws a failure mode every %s (%.0f %% fail); churn every %s; /metrics every 250 ms, /probe of a random account every 100 ms\n",
		o.duration, o.seed, o.accounts, len(w.names()), len(w.keys), o.modeEvery, 100*o.failShare, o.churnEvery)
	fmt.Printf("churn:")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range w.done {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Printf(" %s %d;", k, w.done[k])
	}
	fmt.Printf(" reloads by SIGHUP %d; reloads logged: %d done, %d rejected\n", w.signals, st.reloaded, st.rejected)
	fmt.Printf("%-28s %12s %12s %12s\n", "", "start", "end", "end+15s idle")
	fmt.Printf("%-28s %12.1f %12.1f %12.1f\n", "RSS (MiB)", start["process_resident_memory_bytes"]/(1<<20), end["process_resident_memory_bytes"]/(1<<20), idle["process_resident_memory_bytes"]/(1<<20))
	fmt.Printf("%-28s %12.0f %12.0f %12.0f\n", "goroutines", start["go_goroutines"], end["go_goroutines"], idle["go_goroutines"])
	fmt.Printf("%-28s %12.0f %12.0f %12.0f\n", "open fds", start["process_open_fds"], end["process_open_fds"], idle["process_open_fds"])
	first, second := halves(samples, o.duration)
	fmt.Printf("peaks sampled every 5 s, first half / second half: RSS %.1f / %.1f MiB, goroutines %.0f / %.0f, open fds %.0f / %.0f\n",
		first.rss/(1<<20), second.rss/(1<<20), first.gor, second.gor, first.fds, second.fds)
	fmt.Printf("scrapes of /metrics: %d, probes: %d, failed HTTP requests to the exporter: %d %v\n", scrapes.Load(), probes.Load(), scrapeErrors.Load(), errKinds)
	fmt.Printf("API calls: %d in all; the most for one key in any 60 s: %d (ceiling %d), counted by the fake API per key sent\n", total, most, o.ceiling)
	fmt.Printf("log lines: %d (%.1f a minute, the busiest minute %d), longest %d bytes, lines holding a piece of a key: %d\n",
		st.lines, float64(st.lines)/o.duration.Minutes(), st.busiest, st.longest, st.leaks)

	var fails []string
	if most > o.ceiling {
		fails = append(fails, fmt.Sprintf("a key received %d calls within 60 s, more than the ceiling of %d", most, o.ceiling))
	}
	if st.leaks > 0 {
		fails = append(fails, fmt.Sprintf("%d log lines hold a piece of a key", st.leaks))
	}
	if st.longest > 4096 {
		fails = append(fails, fmt.Sprintf("a log line of %d bytes", st.longest))
	}
	if st.rejected > 0 {
		fails = append(fails, fmt.Sprintf("%d reloads rejected; every change was valid", st.rejected))
	}
	// Flat: the second half's peaks stay near the first half's, which
	// has seen every kind of failure and churn already.
	for _, g := range []struct {
		what          string
		first, second float64
		slack         float64
	}{
		{"RSS", first.rss, second.rss, 32 << 20},
		{"goroutines", first.gor, second.gor, 200},
		{"open fds", first.fds, second.fds, 64},
	} {
		if g.second > 1.25*g.first+g.slack {
			fails = append(fails, fmt.Sprintf("%s grew: peak %.0f in the second half, %.0f in the first", g.what, g.second, g.first))
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("%s", strings.Join(fails, "; "))
	}
	fmt.Println("ok")
	return nil
}

// halves returns the peaks of the samples of each half of the run.
func halves(samples []sample, d time.Duration) (first, second sample) {
	for _, s := range samples {
		p := &first
		if s.at > d/2 {
			p = &second
		}
		p.rss, p.gor, p.fds = max(p.rss, s.rss), max(p.gor, s.gor), max(p.fds, s.fds)
	}
	return first, second
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
	addr chan string

	mu          sync.Mutex
	pieces      map[string]bool // every 10-character piece of every key, in lower case
	lines       int
	longest     int
	leaks       int
	reloaded    int
	rejected    int
	minuteStart time.Time
	minuteLines int
	busiest     int
	last        []string
}

// addKey makes a line holding any 10-character piece of key, in any case,
// a leak.
func (l *logStats) addKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pieces == nil {
		l.pieces = map[string]bool{}
	}
	key = strings.ToLower(key)
	for i := 0; i+10 <= len(key); i++ {
		l.pieces[key[i:i+10]] = true
	}
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
		if l.holdsKey(line) {
			l.leaks++
		}
		if strings.Contains(line, `msg="Config reloaded"`) {
			l.reloaded++
		}
		if strings.Contains(line, `msg="Config reload rejected`) {
			l.rejected++
			l.last = append(l.last, line)
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

// holdsKey reports whether line holds a piece of a key; l.mu is held.
func (l *logStats) holdsKey(line string) bool {
	low := strings.ToLower(line)
	for i := 0; i+10 <= len(low); i++ {
		if l.pieces[low[i:i+10]] {
			return true
		}
	}
	return false
}

func (l *logStats) resetMinute() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines, l.busiest, l.minuteLines, l.minuteStart = 0, 0, 0, time.Now()
}

// logSummary is what the log said, in figures.
type logSummary struct{ lines, longest, leaks, busiest, reloaded, rejected int }

func (l *logStats) summary() logSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return logSummary{l.lines, l.longest, l.leaks, l.busiest, l.reloaded, l.rejected}
}

func (l *logStats) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
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
