// Package labelvalue is the one rule for a value that goes on every series
// of an account as a label: the account name, from the flags, the accounts
// file or a key directory's file name, and the owner labels' names and
// values. Package config and package keydir both apply it.
package labelvalue

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the longest label name or value, and account name: each is
// on every series of the account.
const MaxBytes = 128

// Problem says why v is not a label value someone means, "" if it is: it
// must not be empty, must be UTF-8 (Prometheus rejects the rest at scrape
// time), without control characters or invisible ones (format characters:
// a zero-width space, a direction override that shows "a‮cba" as "aabc",
// would let two names look alike or one pass for another), nor whitespace
// at either end (" a" and "a" would be two). Its length is the caller's to
// check, against MaxBytes.
func Problem(v string) string {
	switch {
	case v == "":
		return "empty"
	case !utf8.ValidString(v):
		return "not valid UTF-8"
	case strings.TrimSpace(v) != v:
		return "leading or trailing white space"
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "a control character"
	case strings.IndexFunc(v, func(c rune) bool { return unicode.Is(unicode.Cf, c) }) >= 0:
		return "an invisible character: zero-width, or a direction override"
	}
	return ""
}
