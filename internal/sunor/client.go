// Package sunor is a client for the two read-only endpoints of the Sunor
// API that the exporter needs: the credit balance and the lifetime usage.
//
// It is written for being polled by an exporter: it never follows a
// redirect (Go's client would forward the x-api-key header to wherever the
// redirect points), reads at most 1 MiB of a body, classifies every failure
// into a Reason, and keeps the key out of every error it returns.
//
// Every string in an *Error that came from the network (the API's message,
// a Location, a transport error that quotes a malformed status line or
// header) is cleaned before it is returned by internal/redact: every piece
// of the key the request sent, in the encodings that package lists,
// replaced by <redacted>, what is not printable escaped, and the result cut
// to MaxTextChars characters. Every key Fetch sends is remembered there
// first, for what the standard library logs; the key only ever goes to the
// --sunor.url the operator configured.
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
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// MaxBodyBytes is the most of a response body the client reads. The real
// answers are under 100 bytes; anything near this is not the Sunor API.
const MaxBodyBytes = 1 << 20

// DefaultRetryAfter is the back-off after a 429 that carries no usable
// Retry-After header.
const DefaultRetryAfter = 60 * time.Second

// KeyFunc returns the API key to send. It is called once per request so
// that a rotated key file takes effect without a restart, and must return
// by the time ctx ends.
type KeyFunc func(ctx context.Context) string

// Client calls the Sunor API with one key.
type Client struct {
	base *url.URL
	http *http.Client
	key  KeyFunc
	urls map[string]target // by Endpoint.Path: each known endpoint's, built once
}

// target is where an endpoint is called: the URL, and its path as an
// *Error names it.
type target struct{ url, path string }

// NewClient returns a client for the API at base (see baseurl.Parse). The
// http.Client's CheckRedirect is replaced so that redirects are never
// followed, whatever it was built with. The User-Agent and other transport
// settings are hc's.
func NewClient(base *url.URL, hc *http.Client, key KeyFunc) *Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	urls := map[string]target{}
	for _, ep := range []Endpoint{Balance, Usage} {
		urls[ep.Path] = targetOf(base, ep)
	}
	return &Client{base: base, http: &c, key: key, urls: urls}
}

// RateLimit is what the X-RateLimit-* headers of one response said. A Has*
// field is false when the header was absent or not a number.
type RateLimit struct {
	Limit, Remaining       float64
	Reset                  time.Time
	HasLimit, HasRemaining bool
	HasReset               bool
}

type retriedKey struct{}

// OnRetry returns ctx with which Fetch calls retried for every request it
// writes beyond the first in one call. Go's transport writes a request
// again, on a new connection, when a reused connection closed before an
// answer came: the API may have read both, and each counts against the
// key's budget. A caller that counts one request per call adds these so
// that its count is what the API saw.
func OnRetry(ctx context.Context, retried func()) context.Context {
	return context.WithValue(ctx, retriedKey{}, retried)
}

// traceRetries makes ctx report, through the function OnRetry put in it,
// each request written after the first.
func traceRetries(ctx context.Context) context.Context {
	retried, ok := ctx.Value(retriedKey{}).(func())
	if !ok {
		return ctx
	}
	var written atomic.Int32
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			// A write that failed did not send a whole request: no
			// server acts on part of one.
			if i.Err == nil && written.Add(1) > 1 {
				retried()
			}
		},
	})
}

// Fetch calls ep and returns its Fields' values, in order, with the
// rate-limit headers of the answer.
func (c *Client) Fetch(ctx context.Context, ep Endpoint) ([]float64, RateLimit, error) {
	// The key is read once: the key file may be rotated while the call is
	// in flight, and the error must be cleaned of the key that was sent.
	key := c.key(ctx)
	// Known to the log writer before the request can make anything, even
	// the standard library, log text that echoes it.
	redact.Known.Add(key)
	at, known := c.urls[ep.Path]
	if !known {
		at = targetOf(c.base, ep)
	}
	body, rl, err := c.get(ctx, ep, at.url, key)
	var v []float64
	if err == nil {
		v, err = decode(ep, body)
	}
	var e *Error
	if errors.As(err, &e) {
		e.Path = at.path
		e.clean(key)
	}
	return v, rl, err
}

// targetOf is where ep is called on the API at base.
func targetOf(base *url.URL, ep Endpoint) target {
	u := *base
	u.Path += ep.Path
	if u.RawPath != "" {
		u.RawPath += ep.Path
	}
	return target{url: u.String(), path: u.EscapedPath()}
}

// get performs the request and returns the body of an HTTP 200 answer, or an
// *Error for anything else. The *Error's strings are as they came from the
// network: the caller sanitizes them.
func (c *Client) get(ctx context.Context, ep Endpoint, url, key string) ([]byte, RateLimit, error) {
	req, err := http.NewRequestWithContext(traceRetries(ctx), http.MethodGet, url, nil)
	if err != nil {
		return nil, RateLimit{}, &Error{Endpoint: ep.Name, Reason: ReasonNetwork, Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-api-key", key)

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, RateLimit{}, transportError(ctx, ep.Name, err)
	}
	defer resp.Body.Close()
	// Every body is bounded by the call's deadline, whatever the status:
	// after a 101 (Switching Protocols) the body is the connection itself,
	// which the request's context no longer reaches, and a read of it
	// would hold the call, its connection and its slot for ever.
	defer context.AfterFunc(ctx, func() { resp.Body.Close() })()
	now := time.Now()
	rl := parseRateLimit(resp.Header, now)
	if resp.StatusCode < 200 {
		// Go's transport reads 100 and 103 (and every other 1xx but
		// 101) by itself: what arrives here switched protocols, and the
		// rest of the connection is not an HTTP answer. It is not read.
		return nil, rl, &Error{Endpoint: ep.Name, Reason: ReasonHTTPStatus, StatusCode: resp.StatusCode,
			Message: "an informational answer that switches protocols is not the API's"}
	}

	// Read the body whatever the status: draining it lets the connection
	// be reused, and an error body carries the API's message.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))

	if resp.StatusCode != http.StatusOK {
		location := resp.Header.Get("Location")
		e := &Error{Endpoint: ep.Name, Reason: reasonForStatus(resp.StatusCode, location), StatusCode: resp.StatusCode}
		e.Message = apiMessage(body)
		if e.Reason == ReasonRedirect {
			// A Location built by a hostile or careless server can carry
			// the key; it is logged, so it is sanitized too.
			e.Location = location
		}
		if e.Reason == ReasonRateLimited {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return nil, rl, e
	}
	if readErr != nil {
		e := transportError(ctx, ep.Name, readErr)
		e.StatusCode = resp.StatusCode
		return nil, rl, e
	}
	if len(body) > MaxBodyBytes {
		return nil, rl, &Error{Endpoint: ep.Name, Reason: ReasonDecode, StatusCode: 200, Message: "body exceeds 1 MiB"}
	}
	return body, rl, nil
}

// transportError classifies an error from Do or from reading the body.
func transportError(ctx context.Context, ep string, err error) *Error {
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
		return env.Message
	}
	if len(body) == 0 {
		return ""
	}
	return fmt.Sprintf("non-JSON body of %d bytes", len(body))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 10.2.3). Anything else, or nothing, means DefaultRetryAfter. A
// delay too long for a time.Duration saturates at the longest one: capping
// it to something sensible is the caller's decision.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultRetryAfter
	}
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || s > uint64(math.MaxInt64/time.Second) {
			return math.MaxInt64
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		// Sub saturates too, for a date centuries ahead.
		return max(t.Sub(now), 0)
	}
	return DefaultRetryAfter
}

// Bounds of the X-RateLimit-* headers. A value outside them is dropped, not
// guessed at: a wrong gauge is worse than an absent one.
const (
	// maxRateCount bounds Limit and Remaining: a per-minute request budget
	// of more than 2^32 is not a number this API sends.
	maxRateCount = 1 << 32
	// resetAhead is how far ahead a reset may be; the window is a minute.
	resetAhead = 24 * time.Hour
	// resetBehind is how far in the past an absolute reset may be, for a
	// server clock that is a little behind ours.
	resetBehind = time.Minute
)

// parseRateLimit reads the X-RateLimit-* headers. X-RateLimit-Reset is
// either seconds from now, when under a day (86400), or a Unix time in
// seconds, which must lie between a minute ago and a day from now: anything
// else (milliseconds since the epoch, a date long past) is dropped.
func parseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	rl.Limit, rl.HasLimit = headerFloat(h, "X-RateLimit-Limit", maxRateCount)
	rl.Remaining, rl.HasRemaining = headerFloat(h, "X-RateLimit-Remaining", maxRateCount)
	// The comparisons are made in float64 before any conversion, so a
	// huge value cannot overflow into a plausible-looking one.
	if r, ok := headerFloat(h, "X-RateLimit-Reset", math.MaxFloat64); ok {
		ahead := resetAhead.Seconds()
		switch unix := float64(now.UnixNano()) / 1e9; {
		case r < ahead:
			rl.Reset, rl.HasReset = now.Add(time.Duration(r*float64(time.Second))), true
		case r >= unix-resetBehind.Seconds() && r <= unix+ahead:
			sec, frac := math.Modf(r)
			rl.Reset, rl.HasReset = time.Unix(int64(sec), int64(frac*1e9)), true
		}
	}
	return rl
}

// headerFloat reads a header that must be a number from 0 to most.
func headerFloat(h http.Header, name string, most float64) (float64, bool) {
	v := h.Get(name)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > most {
		return 0, false
	}
	return f, true
}
