//go:build unix

package keydir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/labelvalue"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// wait bounds every wait on something the package does in the background.
const wait = 10 * time.Second

// keyDir is a key directory in a fresh temporary directory.
type keyDir struct {
	t   *testing.T
	dir string
}

func newKeyDir(t *testing.T) keyDir { return keyDir{t, t.TempDir()} }

func (d keyDir) path(name string) string { return filepath.Join(d.dir, name) }

// write puts content in name as a rotation does: write elsewhere, then
// rename over it.
func (d keyDir) write(name, content string) {
	d.t.Helper()
	tmp := filepath.Join(filepath.Dir(d.dir), "tmp-"+filepath.Base(d.dir))
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		d.t.Fatal(err)
	}
	d.rename(tmp, d.path(name))
}

func (d keyDir) rename(from, to string) {
	d.t.Helper()
	if err := os.Rename(from, to); err != nil {
		d.t.Fatal(err)
	}
}

func (d keyDir) remove(name string) {
	d.t.Helper()
	if err := os.RemoveAll(d.path(name)); err != nil {
		d.t.Fatal(err)
	}
}

func (d keyDir) symlink(target, name string) {
	d.t.Helper()
	if err := os.Symlink(target, d.path(name)); err != nil {
		d.t.Fatal(err)
	}
}

// scan runs Scan and fails the test if it blocks (on a named pipe, say).
func (d keyDir) scan(logger log.Logger) ([]Entry, []string) {
	d.t.Helper()
	type result struct {
		entries  []Entry
		warnings []string
		err      error
	}
	got := make(chan result, 1)
	go func() {
		e, w, err := Scan(d.dir, logger)
		got <- result{e, w, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			d.t.Fatal(r.err)
		}
		return r.entries, r.warnings
	case <-time.After(wait):
		d.t.Fatalf("Scan(%s) blocked for %s", d.dir, wait)
		return nil, nil
	}
}

func names(entries []Entry) []string {
	var n []string
	for _, e := range entries {
		n = append(n, e.Name)
	}
	return n
}

// keyOf returns the key e hands out now.
func keyOf(t *testing.T, e Entry) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return e.Key.Key(ctx)
}

func wantNames(t *testing.T, what string, entries []Entry, want ...string) {
	t.Helper()
	if got := names(entries); !slices.Equal(got, want) {
		t.Fatalf("%s: accounts %q, want %q", what, got, want)
	}
	for _, e := range entries {
		if e.Path != filepath.Join(filepath.Dir(e.Path), e.Name) || e.Key == nil {
			t.Errorf("%s: entry %+v: its path is not named after it, or it has no key", what, e)
		}
	}
}

// TestScan: every regular file (or symlink to one) is an account named after
// it, with the key it holds; dot-files are passed over in silence; every
// other file is skipped with one warning that names it (cut short when
// long) and never holds what the file holds.
func TestScan(t *testing.T) {
	d := newKeyDir(t)
	outside := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(outside, []byte("key-beta\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.write("alpha", "key-alpha\n")
	d.symlink(outside, "beta")
	d.write(".hidden", "secret-hidden")
	d.write("ünïcode-ok", "key-unicode")
	if err := os.Mkdir(d.path("subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(d.path("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.write("large", "secret-large"+strings.Repeat("x", apikey.MaxBytes))
	d.write("empty", "")
	d.write("two-keys", "secret-line-one\nsecret-line-two\n")
	d.symlink(d.path("nowhere"), "dangling")
	long := strings.Repeat("n", labelvalue.MaxBytes+1)
	invalid := map[string]string{
		" leading":         "leading or trailing white space",
		"trailing\t":       "leading or trailing white space",
		"new\nline":        "a control character",
		"del\x7f":          "a control character",
		"prod\u202eved":    "an invisible character: zero-width, or a direction override",
		"\u200b":           "an invisible character: zero-width, or a direction override",
		"latin1-\xe9t\xe9": "not valid UTF-8",
		long:               "longer than 128 bytes",
	}
	for name := range invalid {
		d.write(name, "secret-of-an-invalid-name")
	}

	entries, warnings := d.scan(log.NewNopLogger())
	wantNames(t, "Scan", entries, "alpha", "beta", "ünïcode-ok")
	for i, want := range []string{"key-alpha", "key-beta", "key-unicode"} {
		if got := keyOf(t, entries[i]); got != want {
			t.Errorf("%s: key %q, want %q", entries[i].Name, got, want)
		}
	}

	all := strings.Join(warnings, "\n")
	if strings.Contains(all, "secret") || strings.Contains(all, "xxxx") || strings.Contains(all, "hidden") {
		t.Errorf("a warning shows what a file holds, or a dot-file:\n%s", all)
	}
	expect := map[string]string{ // a file's quoted name: what its warning says
		`"subdir"`:   "is a directory, not a regular file",
		`"fifo"`:     "is a named pipe, not a regular file",
		`"large"`:    "larger than 4096 bytes",
		`"empty"`:    "is empty",
		`"two-keys"`: "more than one line",
		`"dangling"`: "no such file",
		`"` + strings.Repeat("n", shownNameBytes) + `..." (cut short)`: "longer than 128 bytes",
	}
	for name, why := range invalid {
		if name != long {
			expect[fmt.Sprintf("%q", name)] = "not a valid account name (" + why + ")"
		}
	}
	if len(warnings) != len(expect) {
		t.Errorf("%d warnings, want %d (one a skipped file):\n%s", len(warnings), len(expect), all)
	}
	for name, why := range expect {
		n := 0
		for _, w := range warnings {
			if strings.Contains(w, "skipping file "+name+": ") && strings.Contains(w, why) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings about %s saying %q, want 1:\n%s", n, name, why, all)
		}
	}
	if strings.Contains(all, long) {
		t.Errorf("the warning about a long name is not cut short:\n%s", all)
	}
}

func TestScanMissingDirectory(t *testing.T) {
	_, _, err := Scan(filepath.Join(t.TempDir(), "nope"), log.NewNopLogger())
	if err == nil || !strings.Contains(err.Error(), "key directory") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Scan of a missing directory: err = %v", err)
	}
}

// watch is a watcher started from what Scan gave, as a caller starts it,
// with its log.
func (d keyDir) watch() (*watcher, *testtool.Lines) {
	d.t.Helper()
	logs := &testtool.Lines{}
	logger := log.NewLogfmtLogger(logs)
	entries, _ := d.scan(logger)
	return newWatcher(d.dir, entries, logger), logs
}

// poll polls w and fails the test unless the accounts changed as said:
// want nil for no change.
func poll(t *testing.T, w *watcher, what string, want ...string) []Entry {
	t.Helper()
	entries, changed := w.poll()
	switch {
	case want == nil && changed:
		t.Fatalf("%s: the accounts changed to %q, want no change", what, names(entries))
	case want != nil && !changed:
		t.Fatalf("%s: no change, want accounts %q", what, want)
	case want != nil:
		wantNames(t, what, entries, want...)
	}
	return entries
}

// TestWatcher: added, removed and renamed key files change the accounts; a
// rotated key does not, and the account's key hands out the new key; a
// skipped file is warned about once, and becomes an account once it holds a
// key.
func TestWatcher(t *testing.T) {
	d := newKeyDir(t)
	d.write("a", "key-a")
	d.write("b", "key-b")
	w, logs := d.watch()
	poll(t, w, "nothing changed")

	d.write("c", "key-c")
	entries := poll(t, w, "c added", "a", "b", "c")
	a := entries[0]
	d.remove("a")
	poll(t, w, "a removed", "b", "c")
	d.rename(d.path("b"), d.path("d"))
	entries = poll(t, w, "b renamed d", "c", "d")
	if got := keyOf(t, entries[1]); got != "key-b" {
		t.Errorf("d after the rename: key %q, want key-b", got)
	}
	d.write("a", "key-a")
	entries = poll(t, w, "a back", "a", "c", "d")
	if entries[0].Key == a.Key {
		t.Errorf("a removed and added again has its old key source, want a new one")
	}
	c := entries[1]
	d.write("c", "key-c-rotated")
	// Reported, so that the caller derives c's KeyID again: c may now
	// hold the key of another account, whose budget it must share.
	entries = poll(t, w, "c rotated", "a", "c", "d")
	if got := keyOf(t, c); got != "key-c-rotated" || entries[1].Key != c.Key {
		t.Errorf("c after the rotation: key %q from a new source %v, want key-c-rotated from its own", got, entries[1].Key != c.Key)
	}
	poll(t, w, "nothing changed since the rotation")

	d.write(" x", "secret-x")
	d.write("e", "")
	for range 3 {
		poll(t, w, "invalid name and empty file added")
	}
	for _, s := range []string{`skipping file \" x\"`, `skipping file \"e\"`} {
		if n := logs.Count(s); n != 1 {
			t.Errorf("%d warnings with %s, want 1:\n%s", n, s, logs)
		}
	}
	d.write("e", "key-e")
	entries = poll(t, w, "e now holds a key", "a", "c", "d", "e")
	if got := keyOf(t, entries[3]); got != "key-e" {
		t.Errorf("e: key %q, want key-e", got)
	}
	d.write("e", "")
	poll(t, w, "e emptied: a rotation its key source refuses", "a", "c", "d", "e")
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the log shows what a file holds:\n%s", logs)
	}
}

// TestWatcherStart: a change between the Scan a caller built from and the
// watcher's first poll is seen by that poll; the warnings of that Scan are
// not logged again.
func TestWatcherStart(t *testing.T) {
	d := newKeyDir(t)
	d.write("a", "key-a")
	d.write("bad ", "secret")
	w, logs := d.watch()
	d.write("b", "key-b")
	poll(t, w, "b added before the first poll", "a", "b")
	if n := logs.Count("skipping"); n != 0 {
		t.Errorf("the first poll logged %d warnings, want none (Scan gave them):\n%s", n, logs)
	}
}

// TestWatcherDirectoryGone: a directory that cannot be read keeps the
// accounts as they are, with one warning, until it can be read again.
func TestWatcherDirectoryGone(t *testing.T) {
	d := newKeyDir(t)
	d.write("a", "key-a")
	w, logs := d.watch()
	moved := d.dir + ".moved"
	d.rename(d.dir, moved)
	for range 3 {
		poll(t, w, "directory gone")
	}
	if n := logs.Count("key directory cannot be read"); n != 1 {
		t.Errorf("%d warnings about the directory, want 1:\n%s", n, logs)
	}
	d.rename(moved, d.dir)
	poll(t, w, "directory back")
	d.write("b", "key-b")
	poll(t, w, "b added", "a", "b")
	if n := logs.Count("key directory can be read again"); n != 1 {
		t.Errorf("%d notes that the directory is back, want 1:\n%s", n, logs)
	}
}

// TestKubernetesSecret: a Secret mounted as a directory, as the kubelet
// lays it out: each key a symlink through ..data to a timestamped
// directory, updated by swapping ..data. The dot entries are not accounts
// and not warned about; an update with new values changes no account but
// hands out the new keys; a key added to the Secret is a new account.
func TestKubernetesSecret(t *testing.T) {
	d := newKeyDir(t)
	// update writes a new timestamped directory with keys and swaps ..data
	// to it, as the kubelet's AtomicWriter does.
	update := func(stamp string, keys map[string]string) {
		t.Helper()
		ts := "..2026_11_27_" + stamp
		if err := os.Mkdir(d.path(ts), 0o700); err != nil {
			t.Fatal(err)
		}
		for name, key := range keys {
			if err := os.WriteFile(filepath.Join(d.path(ts), name), []byte(key), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(d.path(name)); err != nil {
				d.symlink(filepath.Join("..data", name), name)
			}
		}
		old, _ := os.Readlink(d.path("..data"))
		d.symlink(ts, "..data_tmp")
		d.rename(d.path("..data_tmp"), d.path("..data"))
		if old != "" {
			d.remove(old)
		}
	}
	update("10_00_00.1", map[string]string{"prod": "key-prod", "staging": "key-staging"})
	logs := &testtool.Lines{}
	entries, warnings := d.scan(log.NewLogfmtLogger(logs))
	wantNames(t, "mounted Secret", entries, "prod", "staging")
	if len(warnings) != 0 {
		t.Errorf("warnings about a mounted Secret: %q", warnings)
	}
	w := newWatcher(d.dir, entries, log.NewLogfmtLogger(logs))
	poll(t, w, "nothing changed")

	update("11_00_00.2", map[string]string{"prod": "key-prod-2", "staging": "key-staging-2"})
	poll(t, w, "Secret updated", "prod", "staging")
	poll(t, w, "nothing changed since the update")
	if got := keyOf(t, entries[0]); got != "key-prod-2" {
		t.Errorf("prod after the update: key %q, want key-prod-2", got)
	}
	update("12_00_00.3", map[string]string{"prod": "key-prod-2", "staging": "key-staging-2", "dev": "key-dev"})
	entries = poll(t, w, "key added to the Secret", "dev", "prod", "staging")
	if got := keyOf(t, entries[0]); got != "key-dev" {
		t.Errorf("dev: key %q, want key-dev", got)
	}
	if n := logs.Count("level=warn"); n != 0 {
		t.Errorf("%d warnings about a Secret's updates:\n%s", n, logs)
	}
}

// TestWatch: Watch itself polls on its own every interval, hands on a
// change, and returns when its context ends.
func TestWatch(t *testing.T) {
	d := newKeyDir(t)
	d.write("a", "key-a")
	entries, _ := d.scan(log.NewNopLogger())
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan []Entry)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, d.dir, 10*time.Millisecond, entries, log.NewNopLogger(), func(e []Entry) error { changes <- e; return nil })
	}()
	d.write("b", "key-b")
	select {
	case e := <-changes:
		wantNames(t, "Watch after b was added", e, "a", "b")
	case <-time.After(wait):
		t.Fatalf("Watch did not hand on an added key file within %s", wait)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("Watch did not return within %s of its context's end", wait)
	}
}

// TestWatchRetriesAFailedChange: a change whose onChange failed is handed
// on again at the next interval, the directory unchanged, until it is
// taken.
func TestWatchRetriesAFailedChange(t *testing.T) {
	d := newKeyDir(t)
	d.write("a", "key-a")
	entries, _ := d.scan(log.NewNopLogger())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan []Entry, 10)
	calls := 0
	go Watch(ctx, d.dir, 10*time.Millisecond, entries, log.NewNopLogger(), func(e []Entry) error {
		calls++
		changes <- e
		if calls == 1 {
			return fmt.Errorf("rejected")
		}
		return nil
	})
	d.write("b", "key-b")
	for i, what := range []string{"the change", "the change again, after it failed"} {
		select {
		case e := <-changes:
			wantNames(t, fmt.Sprint("call ", i+1), e, "a", "b")
		case <-time.After(wait):
			t.Fatalf("Watch did not hand on %s within %s", what, wait)
		}
	}
	// Taken: not handed on again while nothing changes.
	select {
	case e := <-changes:
		t.Errorf("handed on again after it was taken: %v", e)
	case <-time.After(100 * time.Millisecond):
	}
}
