package sunor

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// TestCleanEncodings: the key is redacted in every encoding the package
// documentation lists, whole or in pieces of 10 characters or more.
func TestCleanEncodings(t *testing.T) {
	for _, key := range hostileKeys {
		r := redact.New(key)
		b64 := func(enc *base64.Encoding, prefix string) string {
			return enc.EncodeToString([]byte(prefix + key))
		}
		j, _ := json.Marshal(key)
		forms := map[string]string{
			"as sent":          key,
			"upper case":       strings.ToUpper(key),
			"lower case":       strings.ToLower(key),
			"query-escaped":    url.QueryEscape(key),
			"path-escaped":     url.PathEscape(key),
			"Go-quoted":        strconv.Quote(key),
			"JSON":             string(j),
			"hex":              hex.EncodeToString([]byte(key)),
			"HEX":              strings.ToUpper(hex.EncodeToString([]byte(key))),
			"base64":           b64(base64.StdEncoding, ""),
			"base64 raw":       b64(base64.RawStdEncoding, ""),
			"base64 url":       b64(base64.URLEncoding, ""),
			"base64 after 1":   b64(base64.StdEncoding, "u"),
			"base64 after 2":   b64(base64.StdEncoding, "u:"),
			"base64 url after": b64(base64.RawURLEncoding, "user:"),
			"first half":       key[:len(key)/2],
			"second half":      key[len(key)/2:],
			"middle":           key[5 : 5+redact.MinPiece],
		}
		for name, form := range forms {
			text := "before " + form + " after"
			got := r.Clean(text, MaxTextChars)
			if strings.Contains(got, form) || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Errorf("%s of %q: clean(%q) = %q", name, key, text, got)
			}
			if p := leak(got, key); p != "" {
				t.Errorf("%s of %q: %q shows %q", name, key, got, p)
			}
		}
	}
}

// TestCleanKeepsOrdinaryText: text that holds no piece of the key is left
// as it is, short pieces of it included.
func TestCleanKeepsOrdinaryText(t *testing.T) {
	const key = "sk-live-4fJ9qT2xWm8ZpR6vLc3NbY7dK1hG5sA0"
	r := redact.New(key)
	for _, s := range []string{
		"",
		"invalid API key",
		"key sk-live-4 is not valid", // 9 characters of the key: chance
		"Ünïcödé and emoji 🎵 stay",
		`a "quoted" \ path /api/v1/account/balance?x=1`,
	} {
		if got := r.Clean(s, MaxTextChars); got != s {
			t.Errorf("clean(%q) = %q", s, got)
		}
	}
}

// TestCleanEscapes: nothing that is not printable gets into a log line.
func TestCleanEscapes(t *testing.T) {
	var r *redact.Redactor
	for in, want := range map[string]string{
		"a\nb":              `a\nb`,
		"a\r\nlevel=warn":   `a\r\nlevel=warn`,
		"tab\there":         `tab\there`,
		"nul\x00del\x7f":    `nul\u0000del\u007f`,
		"esc\x1b[2J":        `esc\u001b[2J`,
		"bad\xffutf8":       `bad\xffutf8`,
		"ls\u2028ps\u2029":  `ls\u2028ps\u2029`,
		"rtl\u202eoverride": `rtl\u202eoverride`,
	} {
		if got := r.Clean(in, MaxTextChars); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCleanShortKey: a key too short to be cut into pieces is still
// redacted whole.
func TestCleanShortKey(t *testing.T) {
	if got := redact.New("k1").Clean("key K1 and k1", MaxTextChars); got != "key <redacted> and <redacted>" {
		t.Errorf("got %q", got)
	}
}
