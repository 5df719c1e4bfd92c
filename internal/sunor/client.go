// Package sunor is a client for the two read-only endpoints of the Sunor
// API that the exporter needs: the credit balance and the lifetime usage.
//
// It is written for being polled by an exporter: it never follows a
// redirect (Go's client would forward the x-api-key header to wherever the
// redirect points), reads at most 1 MiB of a body, classifies every failure
// into a Reason, and keeps the key out of every error it returns.
package sunor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Endpoint names an API endpoint; it is the `endpoint` label value.
type Endpoint string

const (
	EndpointBalance Endpoint = "balance"
	EndpointUsage   Endpoint = "usage"
)

func (e Endpoint) path() string { return "/api/v1/account/" + string(e) }

// MaxBodyBytes is the most of a response body the client reads. The real
// answers are under 100 bytes; anything near this is not the Sunor API.
const MaxBodyBytes = 1 << 20

// DefaultRetryAfter is the back-off after a 429 that carries no usable
// Retry-After header.
const DefaultRetryAfter = 60 * time.Second

// KeyFunc returns the API key to send. It is called once per request so
// that a rotated key file takes effect without a restart.
type KeyFunc func() string

// Client calls the Sunor API with one key.
type Client struct {
	base   *url.URL
	http   *http.Client
	key    KeyFunc
	header http.Header // constant headers, built once
}

// ParseBaseURL checks that raw is an absolute http or https URL with a host,
// and returns it without a trailing slash.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q must not carry credentials", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// NewClient returns a client for the API at base (see ParseBaseURL). The
// http.Client's CheckRedirect is replaced so that redirects are never
// followed, whatever it was built with. The User-Agent and other transport
// settings are hc's.
func NewClient(base *url.URL, hc *http.Client, key KeyFunc) *Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h := http.Header{}
	h.Set("Accept", "application/json")
	return &Client{base: base, http: &c, key: key, header: h}
}

// RateLimit is what the X-RateLimit-* headers of one response said. A Has*
// field is false when the header was absent or not a number.
type RateLimit struct {
	Limit, Remaining       float64
	Reset                  time.Time
	HasLimit, HasRemaining bool
	HasReset               bool
}

// Balance fetches the credit balance.
func (c *Client) Balance(ctx context.Context) (Balance, RateLimit, error) {
	return fetch(ctx, c, EndpointBalance, DecodeBalance)
}

// Usage fetches the lifetime usage totals.
func (c *Client) Usage(ctx context.Context) (Usage, RateLimit, error) {
	return fetch(ctx, c, EndpointUsage, DecodeUsage)
}

func fetch[T any](ctx context.Context, c *Client, ep Endpoint, decode func([]byte) (T, error)) (T, RateLimit, error) {
	var zero T
	body, rl, err := c.get(ctx, ep)
	if err != nil {
		return zero, rl, err
	}
	v, err := decode(body)
	return v, rl, c.scrub(err)
}

// get performs the request and returns the body of an HTTP 200 answer, or an
// *Error for anything else.
func (c *Client) get(ctx context.Context, ep Endpoint) ([]byte, RateLimit, error) {
	u := *c.base
	u.Path += ep.path()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, RateLimit{}, &Error{Endpoint: ep, Reason: ReasonNetwork, Message: err.Error()}
	}
	req.Header = c.header.Clone()
	req.Header.Set("x-api-key", c.key())

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, RateLimit{}, transportError(ctx, ep, err)
	}
	defer resp.Body.Close()
	now := time.Now()
	rl := parseRateLimit(resp.Header, now)

	// Read the body whatever the status: draining it lets the connection
	// be reused, and an error body carries the API's message.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))

	if resp.StatusCode != http.StatusOK {
		e := &Error{Endpoint: ep, Reason: reasonForStatus(resp.StatusCode), StatusCode: resp.StatusCode}
		e.Message = c.redact(apiMessage(body))
		if e.Reason == ReasonRedirect {
			// A Location built by a hostile or careless server can carry
			// the key; it is logged, so it is redacted too.
			e.Location = c.redact(resp.Header.Get("Location"))
		}
		if e.Reason == ReasonRateLimited {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return nil, rl, e
	}
	if readErr != nil {
		e := transportError(ctx, ep, readErr)
		e.StatusCode = resp.StatusCode
		return nil, rl, e
	}
	if len(body) > MaxBodyBytes {
		return nil, rl, &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: "body exceeds 1 MiB"}
	}
	return body, rl, nil
}

// transportError classifies an error from Do or from reading the body.
func transportError(ctx context.Context, ep Endpoint, err error) *Error {
	reason := ReasonNetwork
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		reason = ReasonTimeout
	}
	return &Error{Endpoint: ep, Reason: reason, Message: err.Error()}
}

// apiMessage returns the "message" of an error body, or a short note on what
// the body was when it is not the documented JSON (an HTML error page).
func apiMessage(body []byte) string {
	var env struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil && env.Message != "" {
		return truncate(env.Message, 200)
	}
	if len(body) == 0 {
		return ""
	}
	return fmt.Sprintf("non-JSON body of %d bytes", len(body))
}

// scrub redacts the key from the message of a decode or api_error failure.
func (c *Client) scrub(err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.Message = c.redact(e.Message)
	}
	return err
}

// redact removes the key from text that came from the API: an API that
// echoes the key in an error message must not put it in our logs.
func (c *Client) redact(s string) string {
	if k := c.key(); k != "" && strings.Contains(s, k) {
		return strings.ReplaceAll(s, k, "<redacted>")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 10.2.3). Anything else, or nothing, means DefaultRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultRetryAfter
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return DefaultRetryAfter
}

// parseRateLimit reads the X-RateLimit-* headers. X-RateLimit-Reset is
// either a Unix time or, when under 10^9 (a date in 2001), seconds from now.
func parseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	rl.Limit, rl.HasLimit = headerFloat(h, "X-RateLimit-Limit")
	rl.Remaining, rl.HasRemaining = headerFloat(h, "X-RateLimit-Remaining")
	if r, ok := headerFloat(h, "X-RateLimit-Reset"); ok && r >= 0 {
		rl.HasReset = true
		if r < 1e9 {
			rl.Reset = now.Add(time.Duration(r * float64(time.Second)))
		} else {
			rl.Reset = time.Unix(0, int64(r*1e9))
		}
	}
	return rl
}

func headerFloat(h http.Header, name string) (float64, bool) {
	v := h.Get(name)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
