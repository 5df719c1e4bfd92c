package sunor

import (
	"fmt"
	"strings"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// Reason classifies why an API call failed. The values are the `reason`
// label of sunor_api_errors_total, so they are part of the exporter's
// public interface: add new ones, never rename.
type Reason string

const (
	ReasonUnauthorized Reason = "unauthorized" // HTTP 401 or 403
	ReasonRateLimited  Reason = "rate_limited" // HTTP 429
	ReasonServerError  Reason = "server_error" // HTTP 5xx
	ReasonHTTPStatus   Reason = "http_status"  // any other non-200 status
	ReasonAPIError     Reason = "api_error"    // HTTP 200 whose body code is not 200
	ReasonDecode       Reason = "decode"       // body not JSON, field missing or not a number, too large
	ReasonTimeout      Reason = "timeout"      // deadline reached before the answer was read
	ReasonNetwork      Reason = "network"      // connection refused, DNS, TLS, reset...
	ReasonRedirect     Reason = "redirect"     // 3xx with a Location: never followed, see Client
)

// Reasons lists every Reason, so that counters can be initialised to 0 at
// start (a counter that appears only on the first failure makes
// increase() miss that failure).
var Reasons = []Reason{
	ReasonUnauthorized, ReasonRateLimited, ReasonServerError, ReasonHTTPStatus,
	ReasonAPIError, ReasonDecode, ReasonTimeout, ReasonNetwork, ReasonRedirect,
}

// Error is a failed API call. Its text never contains the API key, and an
// Error returned by Client holds no string from the network
// longer than MaxTextChars characters or with a line break (see the
// package documentation).
type Error struct {
	Endpoint   string // Endpoint.Name
	Reason     Reason
	StatusCode int           // HTTP status; 0 when no response arrived
	Path       string        // the path called, without query: a wrong --sunor.url shows in it
	Message    string        // the API's own "message", or what went wrong
	Location   string        // the Location header of a redirect
	RetryAfter time.Duration // how long to back off after a 429
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Endpoint, e.Reason)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " from %s", e.Path)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Location != "" {
		fmt.Fprintf(&b, " (redirected to %s; fix --sunor.url)", e.Location)
	}
	return b.String()
}

// MaxTextChars is how many characters of one string from the network an
// *Error keeps, counted after redaction and escaping.
const MaxTextChars = 200

// clean makes e's strings that came from the network safe to log: every
// piece of key replaced by <redacted> ("" redacts nothing), characters
// that are not printable escaped, each cut to MaxTextChars characters.
func (e *Error) clean(key string) {
	var r *redact.Redactor // nil redacts nothing, and escapes
	if key != "" {
		r = redact.New(key)
	}
	e.Message = r.Clean(e.Message, MaxTextChars)
	e.Location = r.Clean(e.Location, MaxTextChars)
	e.Path = r.Clean(e.Path, MaxTextChars)
}

// reasonForStatus maps a non-200 HTTP status, and the Location header that
// came with it, to its Reason. The status decides before the body is looked
// at: a 502 with an HTML page from a load balancer is a server error, not a
// decode error. Only a 3xx that points somewhere else is a redirect, whose
// hint is to fix --sunor.url; a 304 (Not Modified) never is, and a 300
// without a Location has nowhere to point.
func reasonForStatus(status int, location string) Reason {
	switch {
	case status == 401 || status == 403:
		return ReasonUnauthorized
	case status == 429:
		return ReasonRateLimited
	case status >= 500 && status <= 599:
		return ReasonServerError
	case status >= 300 && status <= 399 && status != 304 && location != "":
		return ReasonRedirect
	default:
		return ReasonHTTPStatus
	}
}
