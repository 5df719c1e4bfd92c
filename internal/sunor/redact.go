package sunor

import (
	"errors"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// MaxTextChars is how many characters of one string from the network an
// *Error keeps, counted after redaction and escaping.
const MaxTextChars = 200

// minPiece is the shortest piece of the key that is redacted (see
// internal/redact).
const minPiece = redact.MinPiece

// sanitize makes the strings of err that came from the network safe to log
// (see clean). err is returned, changed in place.
func sanitize(err error, key string) error {
	var e *Error
	if errors.As(err, &e) {
		var r *redactor
		if key != "" && (e.Message != "" || e.Location != "" || e.Path != "") {
			r = newRedactor(key)
		}
		e.Message = r.clean(e.Message)
		e.Location = r.clean(e.Location)
		e.Path = r.clean(e.Path)
	}
	return err
}

// redactor is the redaction of one request's key.
type redactor redact.Redactor

func newRedactor(key string) *redactor { return (*redactor)(redact.New(key)) }

// clean returns s with every piece of the key replaced by <redacted>,
// characters that are not printable escaped, and the result cut to
// MaxTextChars characters. A nil r redacts nothing.
func (r *redactor) clean(s string) string {
	return (*redact.Redactor)(r).Clean(s, MaxTextChars)
}
