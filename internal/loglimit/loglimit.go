// Package loglimit bounds lines that repeat: a go-kit logger that passes on
// at most one line per interval of each kind, and says on the next line of
// the kind how many it held back. A storm (thousands of accounts skipping
// their calls at once while keys rotate: 28 808 lines in 190 s) becomes a
// few lines a minute; the counters in the metrics still count every event.
package loglimit

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
)

// HeldKey is the key of the count of lines of the kind held back since the
// last one passed on.
const HeldKey = "similar_lines_held_back"

// Repeats returns a logger that passes to next at most one line per every
// for each kind of line among those whose msg starts with one of msgs; other
// lines pass unchanged. A line's kind is its msg and the values of keys
// (for example the endpoint and the reason, not the account: a storm is
// many accounts at once). now is the clock.
func Repeats(next log.Logger, every time.Duration, now func() time.Time, msgs []string, keys ...string) log.Logger {
	return &repeats{next: next, every: every, now: now, msgs: msgs, keys: keys, kinds: map[string]*kind{}}
}

type repeats struct {
	next  log.Logger
	every time.Duration
	now   func() time.Time
	msgs  []string
	keys  []string

	mu    sync.Mutex
	kinds map[string]*kind // a few: the messages listed times the values of keys
}

type kind struct {
	passed time.Time // when the last line of the kind was passed on
	held   int       // lines held back since
}

func (r *repeats) Log(keyvals ...any) error {
	// Most lines are none of those limited: they pass after one look at
	// their msg, without formatting anything.
	var msg string
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, _ := keyvals[i].(string); k == "msg" {
			if msg, _ = keyvals[i+1].(string); msg == "" {
				msg = fmt.Sprint(keyvals[i+1])
			}
		}
	}
	if !slices.ContainsFunc(r.msgs, func(m string) bool { return strings.HasPrefix(msg, m) }) {
		return r.next.Log(keyvals...)
	}
	vals := make([]string, len(r.keys))
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		for j, want := range r.keys {
			if k == want {
				vals[j] = fmt.Sprint(keyvals[i+1])
			}
		}
	}
	id := msg + "\x00" + strings.Join(vals, "\x00")
	r.mu.Lock()
	k := r.kinds[id]
	if k == nil {
		k = &kind{}
		r.kinds[id] = k
	}
	now := r.now()
	if !k.passed.IsZero() && now.Sub(k.passed) < r.every {
		k.held++
		r.mu.Unlock()
		return nil
	}
	held := k.held
	k.passed, k.held = now, 0
	r.mu.Unlock()
	if held > 0 {
		keyvals = append(keyvals[:len(keyvals):len(keyvals)], HeldKey, held)
	}
	return r.next.Log(keyvals...)
}
