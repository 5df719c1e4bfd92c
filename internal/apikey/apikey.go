// Package apikey holds the Sunor API key and keeps it current.
//
// A key comes from an environment variable (fixed for the life of the
// process) or from a file, which is read again on every use, so that a
// rotated Kubernetes Secret or systemd credential takes effect without a
// restart. When a read fails, or gives something that is not a key, the
// last good key stays in use. The key itself never appears in an error or
// log line this package produces: only the file's path or the variable's
// name does.
//
// A key is visible ASCII (0x21 to 0x7E) once surrounding whitespace is
// trimmed, at least MinBytes and at most MaxBytes long: anything else could not go into a
// request header as it is. A key file must be a regular file (a symlink to
// one, as Kubernetes mounts Secrets, is fine) of at most MaxBytes; it is
// never opened in a way that can block on a named pipe, and a read that
// hangs (a stuck network mount) does not hold up the caller past its
// context or readWait.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/regularfile"
)

// MinBytes is the shortest key accepted. Real keys are tens of characters;
// a key of one or two is a mistake (a placeholder, a stray "1"), and every
// log line would have each occurrence of it redacted. The load tools'
// keys (key-1 ...) and the tests' ("demo-key") are at least this long.
const MinBytes = 5

// MaxBytes is the largest key, and the largest key file, accepted. Real
// keys are under a hundred bytes.
const MaxBytes = 4096

// readWait is how long Key waits for the key file before it hands out the
// last good key. The file is a few bytes on a local or tmpfs mount: a read
// that takes longer is stuck, and the API call must not wait for it.
const readWait = 500 * time.Millisecond

// startWait bounds the first read, in NewFile, where there is no previous
// key to fall back on.
const startWait = 5 * time.Second

// Source hands out the current key. Key returns by the time ctx ends.
type Source interface {
	Key(ctx context.Context) string
}

// Static is a key that never changes (from an environment variable).
type Static string

// Key returns the key.
func (s Static) Key(context.Context) string { return string(s) }

// FromEnv returns the key in the environment variable name, whose value is
// value, or an error naming the variable when the value is not a key.
func FromEnv(name, value string) (Static, error) {
	k, err := check(value, "environment variable "+name)
	return Static(k), err
}

// File is a key read from a file on every use.
type File struct {
	path   string
	logger log.Logger
	read   func(path string) (string, error) // readFile; tests make it fail or hang
	wait   time.Duration                     // readWait; tests shorten it

	mu      sync.Mutex
	key     string        // the last good key
	reading chan struct{} // closed when the read in flight ends; nil when none is
	since   time.Time     // when the read in flight started
	warned  string        // the failure last warned about; "" after a good read
	slow    bool          // a slow read was warned about; false after a quick one
}

// NewFile reads the key file once; a file that cannot be read or holds no
// key is an error here, at start-up, where it can stop the exporter.
func NewFile(path string, logger log.Logger) (*File, error) {
	f := &File{path: path, logger: logger, read: readFile, wait: readWait}
	var err error
	done := make(chan struct{})
	go func() {
		f.key, err = f.read(path) // f is dropped if the read outlives startWait
		close(done)
	}()
	select {
	case <-done:
		if err != nil {
			return nil, err
		}
		return f, nil
	case <-time.After(startWait):
		return nil, fmt.Errorf("API key file %s: not read within %v", path, startWait)
	}
}

// Key reads the file and returns the key in it or, when that fails or
// takes too long, the last good key. A run of failures is logged once per
// cause, not once per call, and so is a run of slow reads; a new key taking
// effect is logged once. Only one read is in flight at a time: calls during
// a slow read wait for that one.
func (f *File) Key(ctx context.Context) string {
	f.mu.Lock()
	reading := f.reading
	if reading == nil {
		reading = make(chan struct{})
		f.reading, f.since = reading, time.Now()
		go f.reload(reading)
	}
	f.mu.Unlock()

	select {
	case <-reading:
	case <-ctx.Done():
	case <-time.After(f.wait):
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Warn about a stuck read only once it has taken longer than f.wait, so
	// that a caller whose context was already ending does not cause a
	// warning about a healthy file.
	if f.reading == reading && time.Since(f.since) >= f.wait && !f.slow {
		f.slow = true
		level.Warn(f.logger).Log("msg", "API key file not read in time; keeping the previous key", "file", f.path, "waited", f.wait)
	}
	return f.key
}

func (f *File) reload(reading chan struct{}) {
	key, err := f.read(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.since) < f.wait {
		f.slow = false
	}
	f.reading = nil
	close(reading)
	if err != nil {
		if err.Error() != f.warned { // a run of one failure is warned about once
			f.warned = err.Error()
			level.Warn(f.logger).Log("msg", "API key file changed but cannot be used; keeping the previous key", "file", f.path, "err", f.warned)
		}
		return
	}
	switch {
	case key != f.key:
		level.Info(f.logger).Log("msg", "API key file changed; using the new key", "file", f.path)
	case f.warned != "":
		level.Info(f.logger).Log("msg", "API key file can be used again; the key is unchanged", "file", f.path)
	}
	f.key, f.warned = key, ""
}

// readTries is how many times readFile reads a file that changes while it
// is read before it gives up, keeping the last good key.
const readTries = 3

// midRead runs between a read of the key file and the check that the file
// did not change meanwhile; tests write to the file there.
var midRead = func() {}

// readFile returns the key in the file at path. Every error names the path
// and never the file's contents. A file rewritten in place (truncated,
// then written) can be read half-written: a read during which the file
// changed size or time is not used, and the file is read again, up to
// readTries times. A writer that pauses between two writes cannot be told
// from a short key: the docs ask for an atomic rename.
func readFile(path string) (string, error) {
	for range readTries {
		key, changed, err := readOnce(path)
		if !changed {
			return key, err
		}
	}
	return "", fmt.Errorf("API key file %s changed while it was read, %d times in a row; write it with an atomic rename", path, readTries)
}

// readOnce reads the key in the file at path once; changed says the file
// changed while it was read, and the key must not be used.
func readOnce(path string) (key string, changed bool, err error) {
	file, fi, err := regularfile.Open(path)
	var notRegular *regularfile.NotRegularError
	switch {
	case errors.As(err, &notRegular):
		return "", false, fmt.Errorf("API key file %w", err)
	case err != nil:
		return "", false, fmt.Errorf("API key file: %w", err)
	}
	defer file.Close()
	tooBig := fmt.Errorf("API key file %s is larger than %d bytes", path, MaxBytes)
	if fi.Size() > MaxBytes {
		return "", false, tooBig
	}
	b, readErr := regularfile.ReadAll(file, MaxBytes)
	if readErr != nil && !errors.Is(readErr, regularfile.ErrTooLarge) {
		return "", false, fmt.Errorf("API key file: %w", readErr)
	}
	midRead()
	after, err := file.Stat()
	if err != nil {
		return "", false, fmt.Errorf("API key file: %w", err)
	}
	// A size of 0 that reads as more is a file that does not know its
	// size (/proc), unless the size or time moved too.
	if after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) || (fi.Size() > 0 && int64(len(b)) != fi.Size()) {
		return "", true, nil
	}
	if readErr != nil { // too large, and not because it was changing
		return "", false, tooBig
	}
	key, err = check(string(b), "API key file "+path)
	return key, false, err
}

// check returns raw without surrounding whitespace if that is a key, or an
// error that names what raw came from and where it goes wrong, never what
// it holds.
func check(raw, what string) (string, error) {
	k := strings.TrimSpace(raw)
	if k == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	if len(k) > MaxBytes {
		return "", fmt.Errorf("%s holds more than %d bytes", what, MaxBytes)
	}
	if len(k) < MinBytes {
		return "", fmt.Errorf("%s holds fewer than %d characters: too short for an API key", what, MinBytes)
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '\n' || c == '\r':
			return "", fmt.Errorf("%s holds more than one line", what)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("%s holds a control character (byte %d of the key); a key is visible ASCII", what, i+1)
		case c == ' ':
			return "", fmt.Errorf("%s holds a space (byte %d of the key); a key is visible ASCII", what, i+1)
		case c > 0x7f:
			return "", fmt.Errorf("%s holds a non-ASCII character (byte %d of the key); a key is visible ASCII", what, i+1)
		}
	}
	return k, nil
}
