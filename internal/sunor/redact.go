package sunor

import (
	"errors"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// MaxTextChars is how many characters of one string from the network an
// *Error keeps, counted after redaction and escaping.
const MaxTextChars = 200

// sanitize makes the strings of err that came from the network safe to log:
// every piece of key replaced by <redacted>, characters that are not
// printable escaped, each cut to MaxTextChars characters. err is returned,
// changed in place.
func sanitize(err error, key string) error {
	var e *Error
	if errors.As(err, &e) {
		var r *redact.Redactor // nil redacts nothing, and escapes
		if key != "" && (e.Message != "" || e.Location != "" || e.Path != "") {
			r = redact.New(key)
		}
		e.Message = r.Clean(e.Message, MaxTextChars)
		e.Location = r.Clean(e.Location, MaxTextChars)
		e.Path = r.Clean(e.Path, MaxTextChars)
	}
	return err
}
