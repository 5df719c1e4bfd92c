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

// missingEndpoint reports whether err is the API saying it has no such
// endpoint at all.
func missingEndpoint(err error) (*sunor.Error, bool) {
	var e *sunor.Error
	if !errors.As(err, &e) {
		return nil, false
	}
	switch e.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return e, true
	}
	return nil, false
}

// claimOptional says whether an optional endpoint may be called at now,
// and if so holds the one call that tells whether it exists: while the
// key has had no answer yet, or once RetryMissing has passed after a
// missing answer, only one account of the key calls it; the others show it
// as failed for that scrape. Once the endpoint answered, every account
// calls it as usual. A claim is given back by optionalDone.
func (g *guard) claimOptional(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &g.missing
	switch {
	case m.known && !m.off:
		return true
	case m.probing, m.off && now.Before(m.until):
		return false
	}
	m.probing = true
	return true
}

// optionalDone records the outcome of an optional call made under
// claimOptional (or not made: r.called false). It returns whether the
// endpoint was just found missing for the first time, to be warned of,
// and whether it answered again after being missing.
func (g *guard) optionalDone(now time.Time, r result) (firstMissing, back bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &g.missing
	m.probing = false
	if !r.called {
		return false, false
	}
	if _, missing := missingEndpoint(r.err); missing {
		m.known, m.off, m.until = true, true, now.Add(RetryMissing)
		firstMissing = !m.warned
		m.warned = true
		return firstMissing, false
	}
	var e *sunor.Error
	if r.ok || errors.As(r.err, &e) && e.StatusCode != 0 {
		// Any other answer from the API: the endpoint is there.
		back = m.off
		m.known, m.off = true, false
	}
	return false, back
}
