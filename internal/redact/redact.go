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
// redaction cannot be listed.
//
// Besides the Redactor of one request's key, the package keeps the set of
// keys in use (Remember, Known) and a log writer that redacts all of them
// (Writer): the standard library and dependencies log text from the
// network by themselves, with no key at hand.
package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/url"
	"strconv"
	"strings"
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
// redacts nothing. Keys can be added and removed; a Redactor is not safe
// for concurrent use while that happens.
type Redactor struct {
	short   map[string]int   // keys shorter than MinPiece, folded, matched whole; counts
	needles map[string]int   // the keys' encodings, folded, each at least MinPiece long; counts
	pieces  map[uint32]int32 // hashes of every MinPiece-long piece of a needle; counts
	longest int              // no needle or short key is longer (it never shrinks: it only bounds work)
}

// seed hashes pieces: a hash, not the piece, keeps the index small (a few
// KiB a key). A hash that matches is confirmed against the needles, so a
// collision costs time, never a false redaction.
var seed = maphash.MakeSeed()

func hash(piece string) uint32 { return uint32(maphash.String(seed, piece)) }

// New returns a Redactor of keys (visible ASCII, see apikey).
func New(keys ...string) *Redactor {
	r := &Redactor{short: map[string]int{}, needles: map[string]int{}, pieces: map[uint32]int32{}}
	for _, k := range keys {
		r.add(k)
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

func (r *Redactor) add(key string)    { r.count(key, 1) }
func (r *Redactor) remove(key string) { r.count(key, -1) }

// count adds d to the counts of key's needles and pieces, dropping those
// that reach 0.
func (r *Redactor) count(key string, d int) {
	bump := func(m map[string]int, s string) {
		if m[s] += d; m[s] <= 0 {
			delete(m, s)
		}
	}
	if k := fold(key); len(k) < MinPiece && k != "" {
		bump(r.short, k)
		r.longest = max(r.longest, len(k))
	}
	seen := map[string]bool{} // forms often coincide: count each once
	for _, f := range forms(key) {
		if len(f) < MinPiece || seen[f] {
			continue // too short to tell from chance; a short key is matched whole
		}
		seen[f] = true
		bump(r.needles, f)
		r.longest = max(r.longest, len(f))
		for i := 0; i+MinPiece <= len(f); i++ {
			h := hash(f[i : i+MinPiece])
			if r.pieces[h] += int32(d); r.pieces[h] <= 0 {
				delete(r.pieces, h)
			}
		}
	}
}

// match returns the length of the longest run at the start of lower (a
// folded text) that must be redacted, or 0.
func (r *Redactor) match(lower string) int {
	n := 0
	for k := range r.short {
		if len(k) > n && strings.HasPrefix(lower, k) {
			n = len(k)
		}
	}
	if len(lower) < MinPiece {
		return n
	}
	if _, ok := r.pieces[hash(lower[:MinPiece])]; !ok || !r.inNeedle(lower[:MinPiece]) {
		return n
	}
	// Being a piece of a needle is kept when the run gets shorter, so the
	// longest such run is found by bisection.
	lo, hi := MinPiece, min(len(lower), r.longest)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if r.inNeedle(lower[:mid]) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return max(n, lo)
}

func (r *Redactor) inNeedle(s string) bool {
	for n := range r.needles {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// Clean returns s with every piece of the keys replaced by Redacted,
// characters that are not printable (line breaks, other controls, invalid
// UTF-8) escaped as in Go source, and the result cut to maxChars
// characters followed by how long s was. Redaction comes before the cut,
// so the cut cannot leave a piece of a key behind it; the cut never splits
// a character.
func (r *Redactor) Clean(s string, maxChars int) string {
	// Each step below consumes at most one needle's length of s and writes
	// at least one character, so this prefix is all the cut can reach.
	limit := (maxChars + 2) * utf8.UTFMax
	if r != nil {
		limit = (maxChars + 2) * max(r.longest, utf8.UTFMax)
	}
	in := s[:min(len(s), limit)]
	lower := fold(in)
	var b strings.Builder
	chars := 0
	for i := 0; i < len(in); {
		n := 0
		if r != nil {
			n = r.match(lower[i:])
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
			fmt.Fprintf(&b, "... (%d bytes in all)", len(s))
			return b.String()
		}
		if piece != "" {
			b.WriteString(piece)
		} else {
			b.WriteByte(in[i])
		}
		chars += width
		i += n
	}
	return b.String()
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
