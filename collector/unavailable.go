package collector

import (
	"errors"
	"net/http"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// The usage endpoint is documented on one of the API's doc sites and not
// on the other: an API without it answers 404 (or 405, 501) for ever.
// Calling it on every scrape would spend the key's budget on a known
// answer, count an error each time and log a line each time. So an
// optional endpoint that answers so is switched off for every account of
// the key, with one warning, and tried again once every RetryMissing.
// The balance is never switched off: its failures are the exporter's
// product, and SunorAPIDown reports them.

// RetryMissing is how long an optional endpoint the API does not have is
// left alone before one call tries it again.
const RetryMissing = time.Hour

// errMissing answers a scrape while its endpoint is switched off.
var errMissing = errors.New("the API does not have this endpoint (HTTP 404, 405 or 501); tried again once an hour")

// missingState is, for one key, whether its optional endpoints exist. The
// guard's mu guards it.
type missingState struct {
	off     bool      // the latest answer said the endpoint is missing
	until   time.Time // with off: when one call may try again
	probing bool      // a call that will tell is made or queued
	known   bool      // some call got an answer: the endpoint exists or not
	warned  bool      // the warning was logged: once per key
}

// missingEndpoint returns err's sunor.Error if it is the API saying it has
// no such endpoint at all, else nil.
func missingEndpoint(err error) *sunor.Error {
	var e *sunor.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return e
	}
	return nil
}
