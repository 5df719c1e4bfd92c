package apikey

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

const (
	warning = "keeping the previous key"
	changed = "using the new key"
)

// keyFile is a key file in a fresh directory that a test rewrites as
// Kubernetes does: write elsewhere, then rename over it.
type keyFile struct {
	t    *testing.T
	path string
}

func newKeyFile(t *testing.T, content string) keyFile {
	f := keyFile{t, filepath.Join(t.TempDir(), "key")}
	f.write(content, 0o600)
	return f
}

func (f keyFile) write(content string, mode os.FileMode) {
	f.t.Helper()
	tmp := f.path + ".tmp"
	os.RemoveAll(tmp)
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is masked by the umask
		f.t.Fatal(err)
	}
	f.replace(tmp)
}

func (f keyFile) replace(with string) {
	f.t.Helper()
	if err := os.RemoveAll(f.path); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(with, f.path); err != nil {
		f.t.Fatal(err)
	}
}

func (f keyFile) open(logger log.Logger) *File {
	f.t.Helper()
	k, err := NewFile(f.path, logger)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// key calls Key with a deadline and fails the test if Key does not return
// well before it.
func key(t *testing.T, k Source) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() { got <- k.Key(ctx) }()
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("Key did not return by its context's deadline")
		return ""
	}
}

// newFileWithin calls NewFile and fails the test if it blocks.
func newFileWithin(t *testing.T, path string) (*File, error) {
	t.Helper()
	type result struct {
		f   *File
		err error
	}
	got := make(chan result, 1)
	go func() {
		f, err := NewFile(path, log.NewNopLogger())
		got <- result{f, err}
	}()
	select {
	case r := <-got:
		return r.f, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("NewFile(%s) blocked", path)
		return nil, nil
	}
}

func TestNewFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sparse := filepath.Join(dir, "sparse")
	if err := os.WriteFile(sparse, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// 100 MB that take no disk: refused by its size, before any read.
	if err := os.Truncate(sparse, 100<<20); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"missing":    {filepath.Join(dir, "nope"), "no such file"},
		"empty":      {write("empty", " \n\t\n"), "is empty"},
		"two lines":  {write("two", "secret-one\nsecret-two\n"), "more than one line"},
		"directory":  {dir, "is a directory, not a regular file"},
		"NUL":        {write("nul", "secret\x00key"), "control character (byte 7"},
		"0x01":       {write("soh", "\x01secret"), "control character (byte 1"},
		"DEL":        {write("del", "secret\x7f"), "control character (byte 7"},
		"space":      {write("space", "secret key"), "a space"},
		"non-ASCII":  {write("utf8", "secrét"), "non-ASCII"},
		"too large":  {write("large", strings.Repeat("s", MaxBytes+1)), "larger than 4096 bytes"},
		"100 MB":     {sparse, "larger than 4096 bytes"},
		"at the max": {write("max", strings.Repeat("s", MaxBytes-1)+"\n"), ""},
	} {
		f, err := newFileWithin(t, tc.path)
		if tc.want == "" {
			if err != nil || key(t, f) != strings.Repeat("s", MaxBytes-1) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want one naming %s and saying %q", name, err, tc.path, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error text shows the key: %v", name, err)
		}
	}
}

func TestNewFileTrims(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte("  abc123 \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(p, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if k := key(t, f); k != "abc123" {
		t.Fatalf("Key() = %q; want abc123", k)
	}
}

// TestNewFileSymlink: Kubernetes mounts a Secret as a symlink to a regular
// file; that is fine, a symlink to anything else is not.
func TestNewFileSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "..data")
	if err := os.WriteFile(target, []byte("k-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := newFileWithin(t, link); err != nil || key(t, f) != "k-123" {
		t.Fatalf("symlink to a key file: %v", err)
	}
	toDir := filepath.Join(dir, "dirlink")
	if err := os.Symlink(dir, toDir); err != nil {
		t.Fatal(err)
	}
	if _, err := newFileWithin(t, toDir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlink to a directory: err = %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	if _, err := FromEnv("SUNOR_API_KEY", "  "); err == nil || !strings.Contains(err.Error(), "SUNOR_API_KEY") {
		t.Errorf("blank env: err = %v, want one naming the variable", err)
	}
	if k, err := FromEnv("SUNOR_API_KEY", " key-1 \n"); err != nil || key(t, k) != "key-1" {
		t.Errorf("FromEnv = %q, %v", k, err)
	}
	for name, v := range map[string]string{
		"CR":        "secret\rkey",
		"LF":        "secret\nkey",
		"NUL":       "secret\x00key",
		"DEL":       "secret\x7f",
		"tab":       "secret\tkey",
		"non-ASCII": "secret\u00a0key",
		"too long":  strings.Repeat("secret", 1000),
	} {
		_, err := FromEnv("MY_KEY_VAR", v)
		if err == nil || !strings.Contains(err.Error(), "environment variable MY_KEY_VAR") {
			t.Errorf("%s: err = %v, want one naming the variable", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error text shows the key: %v", name, err)
		}
	}
}

// TestRotation: a new key takes effect on the next use with one info line;
// a run of bad versions (missing, empty, control characters, a directory,
// too large) keeps the last good key, with one warning per cause and not
// one per call; the key is never logged.
func TestRotation(t *testing.T) {
	f := newKeyFile(t, "first-key\n")
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	if got := key(t, k); got != "first-key" {
		t.Fatalf("Key() = %q", got)
	}
	f.write("second-key", 0o600)
	for range 3 {
		if got := key(t, k); got != "second-key" {
			t.Fatalf("Key() after rotation = %q", got)
		}
	}
	if n := logs.Count(changed); n != 1 {
		t.Errorf("%d lines for one new key, want 1:\n%s", n, logs)
	}
	bad := []func(){
		func() { os.Remove(f.path) },
		func() { f.write("\n", 0o600) },
		func() { f.write("bad\x00key", 0o600) },
		func() { f.write("b\x01adkey", 0o600) },
		func() { f.write("bad-key\x7f", 0o600) },
		func() { f.write(strings.Repeat("k", MaxBytes+1), 0o600) },
		func() {
			os.RemoveAll(f.path)
			if err := os.Mkdir(f.path, 0o700); err != nil {
				t.Fatal(err)
			}
		},
	}
	for i, b := range bad {
		b()
		for range 3 {
			if got := key(t, k); got != "second-key" {
				t.Fatalf("bad version %d: Key() = %q, want the last good key", i, got)
			}
		}
		if n := logs.Count(warning); n != i+1 {
			t.Fatalf("bad version %d: %d warnings in all, want one per bad version:\n%s", i, n, logs)
		}
	}
	os.RemoveAll(f.path)
	f.write("third-key", 0o600)
	if got := key(t, k); got != "third-key" {
		t.Fatalf("Key() after repair = %q", got)
	}
	for _, s := range []string{"first-key", "second-key", "third-key", "bad"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows a key (%s):\n%s", s, logs)
		}
	}
}

// TestReadAgainAfterFailure: a read that fails is tried again on the next
// use, even when nothing about the file changed in between (chmod changes
// neither modification time, size nor inode).
func TestReadAgainAfterFailure(t *testing.T) {
	t.Run("chmod", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads a file of mode 000, so chmod cannot make the read fail; the injected failure below checks the same path")
		}
		f := newKeyFile(t, "old-key")
		logs := &testtool.Lines{}
		k := f.open(log.NewLogfmtLogger(logs))
		f.write("new-key", 0)
		if got := key(t, k); got != "old-key" {
			t.Fatalf("unreadable new key file: Key() = %q, want old-key", got)
		}
		if err := os.Chmod(f.path, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := key(t, k); got != "new-key" {
			t.Fatalf("after chmod 600: Key() = %q, want new-key", got)
		}
	})
	t.Run("injected failure", func(t *testing.T) {
		f := newKeyFile(t, "old-key")
		k := f.open(log.NewNopLogger())
		f.write("new-key", 0o600)
		k.read = func(string) (string, error) { return "", errors.New("permission denied") }
		if got := key(t, k); got != "old-key" {
			t.Fatalf("failing read: Key() = %q, want old-key", got)
		}
		k.read = readFile // the permissions are fixed; nothing else changed
		if got := key(t, k); got != "new-key" {
			t.Fatalf("after the fix: Key() = %q, want new-key", got)
		}
	})
}

// TestStuckRead: a read that does not return (a hung network mount) does
// not hold up Key past its context or the file's wait, starts no second
// read while it is in flight, and is warned about once; when it does
// return, its key takes effect.
func TestStuckRead(t *testing.T) {
	f := newKeyFile(t, "old-key")
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	release := make(chan struct{})
	var mu sync.Mutex
	reads := 0
	k.read = func(string) (string, error) {
		mu.Lock()
		reads++
		mu.Unlock()
		<-release
		return "new-key", nil
	}
	k.wait = 20 * time.Millisecond

	// A caller with a short context gets the old key by its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if got := k.Key(ctx); got != "old-key" {
		t.Fatalf("Key() during a stuck read = %q, want old-key", got)
	}
	// Callers without a deadline get it after k.wait.
	for range 3 {
		if got := k.Key(context.Background()); got != "old-key" {
			t.Fatalf("Key() during a stuck read = %q, want old-key", got)
		}
	}
	mu.Lock()
	n := reads
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d reads in flight at once, want 1", n)
	}
	if n := logs.Count(warning); n != 1 {
		t.Errorf("%d warnings for one stuck read, want 1:\n%s", n, logs)
	}

	close(release)
	k.mu.Lock()
	reading := k.reading
	k.mu.Unlock()
	if reading != nil {
		select {
		case <-reading:
		case <-time.After(10 * time.Second):
			t.Fatal("the stuck read did not end once released")
		}
	}
	if got := key(t, k); got != "new-key" {
		t.Errorf("after the read returned: Key() = %q, want new-key", got)
	}
}

// TestConcurrentKey: many callers at once, for the race detector.
func TestConcurrentKey(t *testing.T) {
	f := newKeyFile(t, "key-1")
	k := f.open(log.NewNopLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
				if got := k.Key(ctx); got != "key-1" && got != "key-2" {
					t.Errorf("Key() = %q", got)
				}
			}
		})
	}
	f.write("key-2", 0o600)
	wg.Wait()
}

// TestSlowReads: a file that is always slow to read (a sluggish network
// mount) but reads fine gives one warning, not a warning and a recovery
// line on every call.
func TestSlowReads(t *testing.T) {
	f := newKeyFile(t, "the-key")
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	k.wait = 5 * time.Millisecond
	k.read = func(path string) (string, error) {
		time.Sleep(4 * k.wait) // the slow mount
		return readFile(path)
	}
	for range 10 {
		if got := key(t, k); got != "the-key" {
			t.Fatalf("Key() = %q", got)
		}
	}
	if n := logs.Count(warning); n != 1 {
		t.Errorf("%d warnings for a run of slow reads, want 1:\n%s", n, logs)
	}
	if n := logs.Count("level=info"); n != 0 {
		t.Errorf("%d info lines while the key did not change, want none:\n%s", n, logs)
	}
}

// TestHugeFileNotRead: a 100 MB key file is refused by its size, without
// its contents being read into memory.
func TestHugeFileNotRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 100<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFile(p)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "larger than 4096 bytes") {
		t.Errorf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing the file allocated %d bytes: it was read", n)
	}
}

// TestShortKey: a key shorter than MinBytes is refused with one line that
// says so, from a variable or a file at start; a key file rotated to one
// keeps the last good key, with a warning. MinBytes itself is a key: the
// load tools' key-1 and the tests' demo-key.
func TestShortKey(t *testing.T) {
	const documented = 5 // docs/configuration.md; MinBytes
	short, least := strings.Repeat("k", documented-1), strings.Repeat("k", documented)
	if _, err := FromEnv("SUNOR_API_KEY", short); err == nil || !strings.Contains(err.Error(), "SUNOR_API_KEY holds fewer than 5 characters") {
		t.Errorf("a key of %d characters: err = %v, want one saying it is too short", len(short), err)
	}
	if k, err := FromEnv("SUNOR_API_KEY", least); err != nil || key(t, k) != least {
		t.Errorf("a key of %d characters: %q, %v; want it accepted", len(least), k, err)
	}
	f := newKeyFile(t, short+"\n")
	if _, err := NewFile(f.path, log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "API key file "+f.path+" holds fewer than 5 characters") {
		t.Errorf("a key file of %d characters: err = %v", len(short), err)
	}
	f.write("key-1\n", 0o600)
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	f.write("1\n", 0o600)
	if got := key(t, k); got != "key-1" {
		t.Errorf("rotated to a key of one character: Key() = %q, want the last good key", got)
	}
	if !strings.Contains(logs.String(), "fewer than 5 characters") {
		t.Errorf("no warning about the short key:\n%s", logs)
	}
}

// TestKeyFileChangedWhileRead: a key file rewritten in place while it is
// read (the second half written after the read took the first) is never
// taken half: the file is read again, and a file that keeps changing
// leaves the last good key in use, with a warning that asks for an atomic
// rename. Before, the half key was sent.
func TestKeyFileChangedWhileRead(t *testing.T) {
	f := newKeyFile(t, "old-key-12345\n")
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	appended := 0
	appendTo := func(s string) {
		w, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer w.Close()
		if _, err := w.WriteString(s); err != nil {
			t.Error(err)
		}
		appended++
	}
	t.Cleanup(func() { midRead = func() {} })
	// In place, as `printf ... > file` from two writes does: the reader
	// has the first half when the second comes.
	midRead = func() {
		if appended == 0 {
			appendTo("ey-67890\n")
		}
	}
	if err := os.WriteFile(f.path, []byte("new-k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := key(t, k); got != "new-key-67890" {
		t.Errorf("rewritten in place during the read: Key() = %q, want new-key-67890 (read again), never the half", got)
	}
	// A file that changes at every read: the last good key stays.
	midRead = func() { appendTo("x") }
	if err := os.WriteFile(f.path, []byte("other-"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := key(t, k); got != "new-key-67890" {
		t.Errorf("changing at every read: Key() = %q, want the last good key", got)
	}
	if !strings.Contains(logs.String(), "changed while it was read") || !strings.Contains(logs.String(), "atomic rename") {
		t.Errorf("no warning asking for an atomic rename:\n%s", logs)
	}
}
