package redact

import (
	"bytes"
	"cmp"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxKeys is how many keys Known holds at least: the most recently used
// ones. It bounds the memory redaction takes (about 2.4 KiB a random key
// of 30 characters, measured: 23.6 MiB for 10 000 of them); the
// accounts builder raises it to twice the accounts in use (AtLeast), so
// that a key leaves the set only long after its last use.
const MaxKeys = 4096

// Known is the process-wide set of keys in use: the API client adds every
// key it sends (Known.Add), and Writer redacts them all.
var Known = NewSet(MaxKeys)

// Set is a bounded set of keys with a Redactor of them. When it is full,
// adding a key drops the eighth of them used longest ago (at least one).
// It never shows its keys. Adding and using keys (the API client, per call)
// take a lock; Clean (the log path) takes none: it reads the Redactor
// published last, whose table is only ever added to in place, or replaced.
type Set struct {
	mu    sync.Mutex
	most  int
	clock uint64
	used  map[string]uint64 // key → its last use, on clock
	r     *Redactor         // the writer's; cur publishes it
	cur   atomic.Pointer[Redactor]
}

// NewSet returns an empty set of at most most keys.
func NewSet(most int) *Set {
	s := &Set{most: max(most, 1), used: map[string]uint64{}, r: New()}
	s.cur.Store(s.r)
	return s
}

// Add adds key, or marks it used now. An empty key is ignored.
func (s *Set) Add(key string) {
	if key == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock++
	if _, ok := s.used[key]; ok {
		s.used[key] = s.clock
		return
	}
	if len(s.used) >= s.most {
		// The Redactor cannot drop a key in place: it is built anew, from
		// the keys kept. Dropping an eighth at once makes that once per
		// most/8 new keys, not once per key, when keys keep changing.
		byAge := slices.SortedFunc(maps.Keys(s.used), func(a, b string) int { return cmp.Compare(s.used[a], s.used[b]) })
		for _, k := range byAge[:max(1, s.most/8)] {
			delete(s.used, k)
		}
		s.r = New(slices.Collect(maps.Keys(s.used))...)
	}
	s.used[key] = s.clock
	s.r = s.r.with(key)
	s.cur.Store(s.r)
}

// AtLeast raises the set's bound to n keys when it is lower. The keys of
// every account in use must fit: a key dropped while in use is no longer
// redacted from what the network sends back (an idle connection's
// unsolicited bytes come after the call), and every call of a key not in
// the set makes Add rebuild the set's Redactor.
func (s *Set) AtLeast(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.most = max(s.most, n)
}

// Clean is Redactor.Clean with the set's keys. It takes no lock.
func (s *Set) Clean(text string, maxChars int) string {
	return s.cur.Load().Clean(text, maxChars)
}

// MaxLineChars is how many characters of one log line Writer keeps: well
// above the exporter's own lines, whose strings from the network are cut
// far shorter, and under 4 KiB whatever the characters' width.
const MaxLineChars = 1000

// Writer returns a writer that passes each line written to it on to w with
// every piece of the keys of s redacted, what is not printable escaped and
// the line cut to MaxLineChars characters (see Redactor.Clean; a line that
// is one JSON object is cut value by value and stays one). A Write
// is taken to end with a line break: log.Logger, go-kit's loggers and slog
// write one whole line per call; a Write without one is a line of its own.
// Writes are passed on one at a time: the log package, go-kit's SyncWriter
// and others each lock only their own writes.
func Writer(w io.Writer, s *Set) io.Writer { return &writer{w: w, s: s} }

type writer struct {
	mu sync.Mutex
	w  io.Writer
	s  *Set
}

func (lw *writer) Write(p []byte) (int, error) {
	var out []byte
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		r := lw.s.cur.Load()
		clean, cut := r.clean(string(line), MaxLineChars)
		if cut {
			if j, ok := r.cleanJSON(string(line), MaxLineChars); ok {
				clean = j // a JSON line stays JSON
			}
		}
		out = append(out, clean...)
		out = append(out, '\n')
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if _, err := lw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
