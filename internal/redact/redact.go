// Package redact finds an API key, and its encodings, in text that is about
// to be logged or returned in an error, and replaces every piece of it by
// <redacted>. It also makes such text safe to print as one line: it escapes
// what is not printable and cuts the text to a bound.
//
// A run of at least MinPiece characters that is a piece of a key is
// replaced, in any mix of upper and lower case, and in these encodings:
// URL-encoded (query or path); Go-quoted or JSON-escaped; hexadecimal;
// base64 in the standard or URL alphabet, with or without padding, also
// inside a longer base64 text such as a Basic credential. These are the
// forms a server or proxy produces by itself when it echoes a request.
// Anything else (a key split up by other characters, encoded twice,
// hashed, encrypted) is not recognised: an encoding chosen to get around
// redaction cannot be listed. Pieces that overlap are one run, replaced by
// one <redacted>.
//
// Besides the Redactor of one request's key, the package keeps the set of
// keys in use (Known) and a log writer that redacts all of them
// (Writer): the standard library and dependencies log text from the
// network by themselves, with no key at hand.
package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// MinPiece is the shortest piece of a key, or of an encoding of it, that is
// redacted wherever it appears. Shorter runs occur by chance in ordinary
// text; a longer one is the key or a part of it.
const MinPiece = 10

// Redacted replaces each piece of a key.
const Redacted = "<redacted>"

// Redactor finds keys and their encodings in text. All matching is
// ASCII-case-insensitive: keys are ASCII, and a falsely redacted word costs
// nothing while a key piece in upper case would leak. A nil *Redactor
// redacts nothing.
//
// Its cost on a text does not grow with the number of keys: every piece of
// MinPiece characters of every needle (a key's encoding), and every key
// too short to be cut into pieces, is one 64-bit hash in one open-addressed
// table, looked up once per position of the text (and once per length of
// the short keys). The table is built when keys are added, never while a
// text is cleaned, and is read without a lock: its slots are atomic, so
// Clean may run while add (within) writes a new key's hashes in place.
// The maps and n are the writer's; adding keys is not safe for concurrent
// use (Set serialises it).
type Redactor struct {
	short   map[string]int // keys shorter than MinPiece, folded, matched whole; counts
	needles map[string]int // the keys' encodings, folded, each at least MinPiece long; counts
	pieces  []atomic.Uint64
	n       int                          // hashes in pieces
	lengths atomic.Uint32                // bit L is set when a short key of L bytes exists
	starts  *[1 << 16 / 64]atomic.Uint64 // bit a<<8|b is set when a short key starts with a, b: most positions need no short lookup
	longest atomic.Int64                 // no needle or short key is longer (it never shrinks: it only bounds work)
}

// seed hashes pieces. A hash that matches is taken for the piece: with 64
// bits and some millions of pieces in use, a chance match is about one
// position in 10^12, and it costs a redacted word, never a shown key.
var seed = maphash.MakeSeed()

func hash(piece string) uint64 { return max(maphash.String(seed, piece), 1) } // 0 marks an empty slot

// maxLoad is how full the table may get, in tenths: below it, looking up
// a piece that is not there (most positions of most texts) reads about six
// slots in a row, one or two cache lines.
const maxLoad = 7

// slotsFor is the table size for n hashes. It depends on n alone, so a
// Redactor rebuilt from some keys is the same as a new one of them.
func slotsFor(n int) int {
	s := 16
	for n*10 > s*maxLoad {
		s += s / 4 // 1.25 times, not 2: the table is most of the memory
	}
	return s
}

// New returns a Redactor of keys (visible ASCII, see apikey).
func New(keys ...string) *Redactor {
	r := &Redactor{short: map[string]int{}, needles: map[string]int{}, pieces: make([]atomic.Uint64, slotsFor(0)), starts: new([1 << 16 / 64]atomic.Uint64)}
	for _, k := range keys {
		r = r.with(k)
	}
	return r
}

// forms returns key in each encoding the package documentation lists,
// folded (see fold). The URL alphabet of base64 folds into the standard
// one, so one form covers both.
func forms(key string) []string {
	fs := []string{key, url.QueryEscape(key), url.PathEscape(key), hex.EncodeToString([]byte(key))}
	if q := strconv.Quote(key); len(q) > 2 {
		fs = append(fs, q[1:len(q)-1])
	}
	if j, err := json.Marshal(key); err == nil && len(j) > 2 {
		fs = append(fs, string(j[1:len(j)-1]))
	}
	for pad := range 3 {
		// Each base64 character carries 6 bits, so a key that starts at
		// byte pad of the encoded text shares its first characters with the
		// bytes before it and its last one with the bytes after. The part
		// in between is the same in every text that holds the key there.
		b := append(make([]byte, pad), key...)
		enc := base64.StdEncoding.EncodeToString(b)
		from, to := (pad*8+5)/6, len(b)*8/6
		if from < to {
			fs = append(fs, enc[from:to])
		}
	}
	for i := range fs {
		fs[i] = fold(fs[i])
	}
	return fs
}

// with adds key and returns the Redactor that holds it: r itself when its
// table has room (the hashes are written in place, where a concurrent
// Clean may already see them), else a new one with a larger table, which
// takes over r's maps. The caller uses the returned one from then on.
func (r *Redactor) with(key string) *Redactor {
	var hs []uint64
	k, fs := fold(key), forms(key)
	longest := len(k)
	if len(k) < MinPiece && k != "" {
		if r.short[k]++; r.short[k] == 1 {
			hs = append(hs, hash(k))
		}
	}
	for _, f := range fs {
		if len(f) < MinPiece {
			continue // too short to tell from chance; a short key is matched whole
		}
		longest = max(longest, len(f))
		if r.needles[f]++; r.needles[f] > 1 {
			continue // forms often coincide, and keys may share one
		}
		for i := 0; i+MinPiece <= len(f); i++ {
			hs = append(hs, hash(f[i:i+MinPiece]))
		}
	}
	slices.Sort(hs)
	hs = slices.Compact(hs)
	fresh := hs[:0]
	for _, h := range hs {
		if !has(r.pieces, h) {
			fresh = append(fresh, h)
		}
	}
	if size := slotsFor(r.n + len(fresh)); size > len(r.pieces) {
		grown := &Redactor{short: r.short, needles: r.needles, n: r.n, pieces: make([]atomic.Uint64, size), starts: r.starts}
		for i := range r.pieces {
			if h := r.pieces[i].Load(); h != 0 {
				put(grown.pieces, h)
			}
		}
		grown.lengths.Store(r.lengths.Load())
		grown.longest.Store(r.longest.Load())
		r = grown
	}
	for _, h := range fresh {
		put(r.pieces, h)
	}
	r.n += len(fresh)
	if len(k) < MinPiece && k != "" {
		i, pairs := start(k), 1
		if len(k) == 1 {
			pairs = 256 // whatever byte follows it
		}
		for j := i; j < i+pairs; j++ {
			r.starts[j/64].Or(1 << (j % 64))
		}
		r.lengths.Store(r.lengths.Load() | 1<<len(k))
	}
	if int64(longest) > r.longest.Load() {
		r.longest.Store(int64(longest))
	}
	return r
}

// start is the index in Redactor.starts of the first two bytes of s (the
// second is 0 at its end).
func start(s string) int {
	if len(s) == 1 {
		return int(s[0]) << 8
	}
	return int(s[0])<<8 | int(s[1])
}

// slot is where h's probe starts in a table of n slots.
func slot(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// put writes h in the first free slot of its probe. The table is never
// full (maxLoad), and h is not in it yet.
func put(t []atomic.Uint64, h uint64) {
	for i := slot(h, len(t)); ; i = (i + 1) % len(t) {
		if t[i].Load() == 0 {
			t[i].Store(h)
			return
		}
	}
}

// has reports whether h is in t. A reader racing put sees the slot empty
// or written, never half written.
func has(t []atomic.Uint64, h uint64) bool {
	for i := slot(h, len(t)); ; i = (i + 1) % len(t) {
		switch t[i].Load() {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// run returns the end of the run to redact that starts at i of lower (a
// folded text), or i when none does. A run is the union of the pieces of
// needles and the short keys found in it, overlapping ones joined: a piece
// found at i is extended while pieces start inside it, as a key's own do.
// Each position costs one lookup, and one per length of the short keys
// when a short key starts with its two bytes.
func (r *Redactor) run(t []atomic.Uint64, lengths uint32, lower string, i int) int {
	end := i
	for p := i; p == i || p < end; p++ {
		if p+MinPiece <= len(lower) && has(t, hash(lower[p:p+MinPiece])) {
			end = max(end, p+MinPiece)
		}
		if lengths == 0 {
			continue
		}
		if j := start(lower[p:min(p+2, len(lower))]); r.starts[j/64].Load()&(1<<(j%64)) == 0 {
			continue
		}
		// The longest short key that starts at p, if it reaches further.
		for m := lengths; m != 0; {
			l := bits.Len32(m) - 1
			m &^= 1 << l
			if p+l <= end {
				break
			}
			if p+l <= len(lower) && has(t, hash(lower[p:p+l])) {
				end = p + l
				break
			}
		}
	}
	return end
}

// Clean returns s with every piece of the keys replaced by Redacted,
// characters that are not printable (line breaks, other controls, invalid
// UTF-8) escaped as in Go source, and the result cut to maxChars
// characters followed by how long s was. Redaction comes before the cut,
// so the cut cannot leave a piece of a key behind it; the cut never splits
// a character. Clean is safe to call while keys are added.
func (r *Redactor) Clean(s string, maxChars int) string {
	out, _ := r.clean(s, maxChars)
	return out
}

// clean is Clean, and whether it cut s.
func (r *Redactor) clean(s string, maxChars int) (string, bool) {
	var t []atomic.Uint64
	var lengths uint32
	longest := utf8.UTFMax
	if r != nil {
		t, lengths = r.pieces, r.lengths.Load()
		longest = max(longest, int(r.longest.Load()))
	}
	// A step below that writes no <redacted> consumes at most one
	// character of s, and one that does at least one key's length, most
	// often: this prefix is all the cut can reach unless runs are longer
	// (pieces of several keys overlapping), when the cut comes at its end.
	// lower runs on for a piece that starts inside it and ends after.
	limit := (maxChars + 2) * longest
	in := s[:min(len(s), limit)]
	lower := fold(s[:min(len(s), limit+MinPiece-1)])
	var b strings.Builder
	chars := 0
	cut := func() (string, bool) {
		fmt.Fprintf(&b, "... (%d bytes in all)", len(s))
		return b.String(), true
	}
	for i := 0; i < len(in); {
		n := 0
		if t != nil {
			n = r.run(t, lengths, lower, i) - i
		}
		var piece string
		switch {
		case n > 0:
			piece = Redacted
		case ' ' <= in[i] && in[i] <= '~':
			// Printable ASCII, most of any text: no string is built.
			n = 1
		default:
			var c rune
			c, n = utf8.DecodeRuneInString(in[i:])
			piece = escape(c, n, in[i])
		}
		width := 1
		if piece != "" {
			width = utf8.RuneCountInString(piece)
		}
		if chars+width > maxChars {
			return cut()
		}
		if piece != "" {
			b.WriteString(piece)
		} else {
			b.WriteByte(in[i])
		}
		chars += width
		i += n
	}
	if len(in) < len(s) {
		return cut()
	}
	return b.String(), false
}

// escape returns how the character c (n bytes, the first of which is first)
// is written: itself when printable, a Go escape otherwise.
func escape(c rune, n int, first byte) string {
	switch {
	case c == utf8.RuneError && n == 1:
		return fmt.Sprintf(`\x%02x`, first)
	case c == ' ' || unicode.IsPrint(c):
		return string(c)
	case c == '\n':
		return `\n`
	case c == '\r':
		return `\r`
	case c == '\t':
		return `\t`
	case c < 0x10000:
		return fmt.Sprintf(`\u%04x`, c)
	default:
		return fmt.Sprintf(`\U%08x`, c)
	}
}

// fold is what matching compares: s with ASCII letters lower-cased, and
// the URL alphabet's - and _ read as base64's + and /. Keys and their
// encodings are folded the same way, so nothing that matched before
// folding fails to after; byte offsets in the result are those of s.
func fold(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '-':
			b[i] = '+'
		case c == '_':
			b[i] = '/'
		}
	}
	return string(b)
}
