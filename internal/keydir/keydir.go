// Package keydir reads a directory of API key files as a source of
// accounts: each file is one account, named after the file. It fits a
// Kubernetes Secret with many entries mounted as a directory.
//
// A file is one key file of internal/apikey, with its bounds (a symlink to
// one is fine: Kubernetes mounts each entry as one through ..data).
// Dot-files are passed over without a word: they are Kubernetes' own ..data
// and ..<timestamp> entries, or hidden files. Any other file that is not a
// key, or whose name is not a valid account name, is skipped with one
// warning that names the file, never what it holds.
//
// Watch re-reads the directory on its own, by polling, so that keys added,
// removed or renamed take effect without a reload signal. A rotated key
// (new contents under the same name) is read by the apikey.File of its
// Entry on every call; Watch reports it too, so that what is derived from
// the key at build time (the KeyID that tells which accounts share one
// key's budget) is derived again.
package keydir

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/labelvalue"
)

// shownNameBytes is how much of a skipped file's name a warning shows.
const shownNameBytes = 64

// Entry is one key file: one account.
type Entry struct {
	Name string       // the account name: the file's name
	Path string       // the file's path, the directory joined with Name
	Key  *apikey.File // the key, read again on every call; it logs with account=Name
}

// Scan reads the key files in dir. It returns the accounts sorted by name,
// and one warning for each file it skipped: an invalid name, or a file
// that is not a key (a directory, a named pipe, too large, empty, not a
// key...). A warning names the file and why, never the file's contents.
// err is for a dir that cannot be listed. logger is for what each key
// logs later, with an account label added.
func Scan(dir string, logger log.Logger) (entries []Entry, warnings []string, err error) {
	return scan(dir, logger, nil)
}

// scan is Scan, taking the entries in known as they are instead of reading
// their files again.
func scan(dir string, logger log.Logger, known map[string]Entry) ([]Entry, []string, error) {
	names, err := list(dir)
	if err != nil {
		return nil, nil, err
	}
	var entries []Entry
	var warnings []string
	for _, name := range names {
		if e, ok := known[name]; ok {
			entries = append(entries, e)
			continue
		}
		why := labelvalue.Problem(name)
		if len(name) > labelvalue.MaxBytes {
			why = fmt.Sprintf("longer than %d bytes", labelvalue.MaxBytes)
		}
		if why != "" {
			warnings = append(warnings, fmt.Sprintf("key directory %s: skipping file %s: not a valid account name (%s)", dir, shortQuote(name), why))
			continue
		}
		path := filepath.Join(dir, name)
		key, err := apikey.NewFile(path, log.With(logger, "account", name))
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("key directory %s: skipping file %s: %v", dir, shortQuote(name), err))
			continue
		}
		entries = append(entries, Entry{Name: name, Path: path, Key: key})
	}
	return entries, warnings, nil
}

// list returns the names in dir that are not dot-files, sorted.
func list(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("key directory: %w", err)
	}
	var names []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".") {
			names = append(names, de.Name())
		}
	}
	return names, nil
}

// shortQuote quotes name for a warning, cut short when long.
func shortQuote(name string) string {
	if len(name) <= shownNameBytes {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q (cut short)", name[:shownNameBytes]+"...")
}

// Watch reads dir every interval (every > 0) until ctx ends, and calls
// onChange with the new entries each time the set of accounts changes: a
// key file added, removed or renamed, or a skipped file that has become a
// key. from is what the caller built its accounts from (what Scan
// returned); if dir already differs from it, onChange is called after the
// first interval. Entries whose file is still there are handed on as they
// were, Key included (its apikey.File reads the file on every call); a
// rotated file (another inode, size, mode or time) calls onChange too, so
// that the caller derives the key's KeyID again. Each new warning (a
// file skipped) is logged once, except on the first read, whose warnings
// the caller's Scan already gave. A directory that cannot be read is
// logged once too, and the entries stay as they were until it can be.
// When onChange fails (a reload rejected for a reason elsewhere, such as
// another account's key file missing for a moment), it is called again
// with the entries as they are at every interval until it succeeds: a
// change seen once must not be lost because it could not be applied then.
// onChange runs on Watch's goroutine; Watch returns when ctx ends.
func Watch(ctx context.Context, dir string, every time.Duration, from []Entry, logger log.Logger, onChange func([]Entry) error) {
	w := newWatcher(dir, from, logger)
	t := time.NewTicker(every)
	defer t.Stop()
	var last []Entry // the entries of the last change
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if entries, changed := w.poll(); changed {
				last = entries
			} else if !failed {
				continue
			}
			failed = onChange(last) != nil
		}
	}
}

// watcher is Watch's state between polls.
type watcher struct {
	dir    string
	logger log.Logger
	known  map[string]Entry // the entries handed on last, by name
	seen   map[string]stamp // every name listed by the last read, with its file's stamp
	warned map[string]bool  // the warnings of the last read; nil before the first, whose warnings the caller's Scan gave
	failed string           // the error the directory last failed with; "" after a good read
}

// stamp tells one state of a file from another: what a skipped file needs
// to be read again when it changes.
type stamp struct {
	id    fileID
	mode  fs.FileMode
	size  int64
	mtime time.Time // Stat's: no monotonic reading, always Local, so == is Equal
	err   string
}

func newWatcher(dir string, from []Entry, logger log.Logger) *watcher {
	w := &watcher{dir: dir, logger: logger, known: map[string]Entry{}}
	for _, e := range from {
		w.known[e.Name] = e
	}
	return w
}

// poll reads the directory and returns the entries and whether they, or
// the files of known ones, are not the ones handed on last. Only names not
// seen before, and skipped files whose stamp changed, are read.
func (w *watcher) poll() ([]Entry, bool) {
	names, err := list(w.dir)
	if err != nil {
		if err.Error() != w.failed {
			w.failed = err.Error()
			level.Warn(w.logger).Log("msg", "key directory cannot be read; keeping its accounts as they are", "err", err)
		}
		return nil, false
	}
	if w.failed != "" {
		w.failed = ""
		level.Info(w.logger).Log("msg", "key directory can be read again", "dir", w.dir)
	}
	seen := make(map[string]stamp, len(names))
	rotated := false
	for _, name := range names {
		seen[name] = stampOf(filepath.Join(w.dir, name))
		if _, ok := w.known[name]; ok && w.seen != nil && seen[name] != w.seen[name] {
			rotated = true
		}
	}
	if w.seen != nil && maps.Equal(seen, w.seen) {
		return nil, false
	}
	w.seen = seen
	entries, warnings, err := scan(w.dir, w.logger, w.known)
	if err != nil { // removed since list: the next poll says so
		w.seen = nil
		return nil, false
	}
	warned := make(map[string]bool, len(warnings))
	for _, msg := range warnings {
		warned[msg] = true
		if w.warned != nil && !w.warned[msg] {
			level.Warn(w.logger).Log("msg", msg)
		}
	}
	w.warned = warned
	changed := rotated || len(entries) != len(w.known)
	known := make(map[string]Entry, len(entries))
	for _, e := range entries {
		if _, ok := w.known[e.Name]; !ok {
			changed = true
		}
		known[e.Name] = e
	}
	w.known = known
	return entries, changed
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{err: err.Error()}
	}
	return stamp{id: idOf(fi), mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
}
