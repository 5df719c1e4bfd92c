// Package apikey holds the Sunor API key and keeps it current.
//
// A key comes from an environment variable (fixed for the life of the
// process) or from a file, which is read again whenever it changes so that a
// rotated Kubernetes Secret or systemd credential takes effect without a
// restart. The key itself never appears in an error or log line this
// package produces: only the file's path does.
package apikey

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Source hands out the current key.
type Source interface {
	Key() string
}

// Static is a key that never changes (from an environment variable).
type Static string

// Key returns the key.
func (s Static) Key() string { return string(s) }

// FromEnv returns the key in the environment variable name, or an error
// naming the variable when it is unset or blank.
func FromEnv(name, value string) (Static, error) {
	k := strings.TrimSpace(value)
	if k == "" {
		return "", fmt.Errorf("environment variable %s is empty", name)
	}
	return Static(k), nil
}

// File is a key read from a file and read again when the file changes.
type File struct {
	path   string
	logger log.Logger

	mu      sync.Mutex
	key     string
	stamp   fileStamp // of the file the current key came from
	badSeen fileStamp // of the last bad version warned about, to warn once
}

// fileStamp tells one version of a file from another without reading it.
// A Kubernetes Secret update swaps a symlink, which os.Stat follows, so the
// inode changes even when size and modification time happen not to.
type fileStamp struct {
	modTime time.Time
	size    int64
	ino     uint64
	missing bool
}

// ErrEmpty is returned for a key file that holds only whitespace.
var ErrEmpty = errors.New("is empty")

// NewFile reads the key file once; a missing, unreadable or empty file is an
// error here, at start-up, where it can stop the exporter.
func NewFile(path string, logger log.Logger) (*File, error) {
	f := &File{path: path, logger: logger}
	st, key, err := f.read()
	if err != nil {
		return nil, err
	}
	f.key, f.stamp = key, st
	return f, nil
}

// Key returns the current key, reading the file again first if it changed.
// When the new version is missing, unreadable or empty, the last good key
// stays in use and one warning is logged for that version.
func (f *File) Key() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := stampOf(f.path)
	if st == f.stamp || st == f.badSeen {
		return f.key
	}
	st, key, err := f.read()
	if err != nil {
		f.badSeen = st
		level.Warn(f.logger).Log("msg", "API key file changed but cannot be used; keeping the previous key", "file", f.path, "err", err)
		return f.key
	}
	f.badSeen = fileStamp{}
	if key != f.key {
		level.Info(f.logger).Log("msg", "API key file changed; using the new key", "file", f.path)
	}
	f.key, f.stamp = key, st
	return f.key
}

func (f *File) read() (fileStamp, string, error) {
	st := stampOf(f.path)
	b, err := os.ReadFile(f.path)
	if err != nil {
		// The *PathError names the path and the cause, never the contents.
		return st, "", fmt.Errorf("API key file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return st, "", fmt.Errorf("API key file %s %w", f.path, ErrEmpty)
	}
	if strings.ContainsAny(k, "\r\n") {
		// A header value cannot hold a line break; say so without the key.
		return st, "", fmt.Errorf("API key file %s holds more than one line", f.path)
	}
	return st, k, nil
}
