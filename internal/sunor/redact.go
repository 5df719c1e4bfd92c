package sunor

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextChars is how many characters of one string from the network an
// *Error keeps, counted after redaction and escaping.
const MaxTextChars = 200

// minPiece is the shortest piece of the key, or of an encoding of it, that
// is redacted wherever it appears. Shorter runs occur by chance in ordinary
// text; a longer one is the key or a part of it.
const minPiece = 10

const redacted = "<redacted>"

// sanitize makes the strings of err that came from the network safe to log
// (see clean). err is returned, changed in place.
func sanitize(err error, key string) error {
	var e *Error
	if errors.As(err, &e) {
		var r *redactor
		if key != "" && (e.Message != "" || e.Location != "") {
			r = newRedactor(key)
		}
		e.Message = r.clean(e.Message)
		e.Location = r.clean(e.Location)
	}
	return err
}

// redactor finds the key and its encodings in text. All matching is
// ASCII-case-insensitive: keys are ASCII, and a falsely redacted word costs
// nothing while a key piece in upper case would leak.
type redactor struct {
	key     string   // lower case
	needles []string // lower case: the key's encodings, each at least minPiece long
	pieces  map[string]struct{}
	longest int
}

// newRedactor prepares the search for key (visible ASCII, see apikey) and
// its encodings: as sent; URL-encoded (query or path); Go-quoted or
// JSON-escaped; hexadecimal; base64, standard or URL alphabet, at any
// alignment within a longer base64 text (such as a Basic credential).
func newRedactor(key string) *redactor {
	forms := []string{key, url.QueryEscape(key), url.PathEscape(key), hex.EncodeToString([]byte(key))}
	if q := strconv.Quote(key); len(q) > 2 {
		forms = append(forms, q[1:len(q)-1])
	}
	if j, err := json.Marshal(key); err == nil && len(j) > 2 {
		forms = append(forms, string(j[1:len(j)-1]))
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
			forms = append(forms, enc[from:to])
			forms = append(forms, strings.NewReplacer("+", "-", "/", "_").Replace(enc[from:to]))
		}
	}
	r := &redactor{key: asciiLower(key), pieces: map[string]struct{}{}}
	for _, f := range forms {
		f = asciiLower(f)
		if len(f) < minPiece {
			continue // too short to tell from chance; the key itself is matched whole below
		}
		r.needles = append(r.needles, f)
		r.longest = max(r.longest, len(f))
		for i := 0; i+minPiece <= len(f); i++ {
			r.pieces[f[i:i+minPiece]] = struct{}{}
		}
	}
	return r
}

// match returns the length of the longest run at the start of lower (a
// lower-cased text) that must be redacted, or 0.
func (r *redactor) match(lower string) int {
	n := 0
	if strings.HasPrefix(lower, r.key) {
		n = len(r.key)
	}
	if len(lower) < minPiece {
		return n
	}
	if _, ok := r.pieces[lower[:minPiece]]; !ok {
		return n
	}
	// Being a piece of a needle is kept when the run gets shorter, so the
	// longest such run is found by bisection.
	lo, hi := minPiece, min(len(lower), r.longest)
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

func (r *redactor) inNeedle(s string) bool {
	for _, n := range r.needles {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// clean returns s with every piece of the key replaced by <redacted>,
// characters that are not printable (line breaks, other controls, invalid
// UTF-8) escaped as in Go source, and the result cut to MaxTextChars
// characters. Redaction comes before the cut, so the cut cannot leave a
// piece of the key behind it; the cut never splits a character. A nil r
// redacts nothing.
func (r *redactor) clean(s string) string {
	// Each step below consumes at most one needle's length of s and writes
	// at least one character, so this prefix is all the cut can reach.
	limit := (MaxTextChars + 2) * utf8.UTFMax
	if r != nil {
		limit = (MaxTextChars + 2) * max(r.longest, len(r.key), utf8.UTFMax)
	}
	in := s[:min(len(s), limit)]
	lower := asciiLower(in)
	var b strings.Builder
	chars := 0
	for i := 0; i < len(in); {
		var piece string
		n := 0
		if r != nil {
			n = r.match(lower[i:])
		}
		if n > 0 {
			piece = redacted
		} else {
			var c rune
			c, n = utf8.DecodeRuneInString(in[i:])
			piece = escape(c, n, in[i])
		}
		if chars+utf8.RuneCountInString(piece) > MaxTextChars {
			fmt.Fprintf(&b, "... (%d bytes in all)", len(s))
			return b.String()
		}
		b.WriteString(piece)
		chars += utf8.RuneCountInString(piece)
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

// asciiLower lower-cases ASCII letters only, so that byte offsets in the
// result are those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
