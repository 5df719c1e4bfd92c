// Package fakesunor is a stand-in for the Sunor API, for tests and for the
// demo: the balance and usage endpoints with x-api-key auth, per-key
// accounts, X-RateLimit-* headers, and every failure the exporter has to
// survive, switched on through Go methods or an HTTP control API under
// /fake/ (so shell scripts can drive it too).
//
// It enforces the real API's documented behaviour: an unknown or missing key
// is a 401, and every answer carries X-RateLimit-Remaining for that key,
// the one rate-limit header the API's current docs promise.
// X-RateLimit-Limit and X-RateLimit-Reset, which older API versions sent,
// are an option: Server.LimitHeaders, or Account.LimitHeaders for one key.
package fakesunor

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failure modes. The names match the exporter's `reason` label where the
// exporter would classify the answer that way.
const (
	FailNone         = ""
	FailUnauthorized = "unauthorized" // 401 with the documented error body
	FailRateLimited  = "rate_limited" // 429 with Retry-After: RetryAfter
	FailServerError  = "server_error" // 500 with the documented error body
	FailBadGateway   = "bad_gateway"  // 502 with an HTML body, as a proxy sends
	FailPayment      = "http_status"  // 402 insufficient credits
	FailAPIError     = "api_error"    // HTTP 200, body code 500
	FailDecode       = "decode"       // HTTP 200, body not JSON
	FailMissingField = "missing_field"
	FailStringNumber = "string_number" // "available":"950"
	FailHugeBody     = "huge_body"     // more than 1 MiB
	FailRedirect     = "redirect"      // 302 to Location: RedirectTo
	FailHang         = "hang"          // no answer until the client gives up
	FailSlowBody     = "slow_body"     // headers at once, body never ends
	FailEchoKey      = "echo_key"      // 401 whose message repeats the key, as a careless API might
)

// An API without the endpoint: the usage endpoint is documented on one of
// the API's doc sites and not on the other. Not in FailModes, which Chaos
// deals: the exporter leaves such an endpoint alone for an hour.
const (
	FailNotFound         = "not_found"          // 404 with the API's error body
	FailMethodNotAllowed = "method_not_allowed" // 405
	FailNotImplemented   = "not_implemented"    // 501
)

// FailModes lists every failure mode, for tests that go through them all.
var FailModes = []string{FailUnauthorized, FailRateLimited, FailServerError, FailBadGateway, FailPayment,
	FailAPIError, FailDecode, FailMissingField, FailStringNumber, FailHugeBody, FailRedirect, FailHang,
	FailSlowBody, FailEchoKey}

// Account is one key's state.
type Account struct {
	Available       float64 `json:"available"`
	Frozen          float64 `json:"frozen"`
	TasksCreated    float64 `json:"tasks_created"`
	CreditsUsed     float64 `json:"credits_used"`
	CreditsToppedUp float64 `json:"credits_topped_up"`
	// Fail applies to both endpoints of this key unless FailUsage is set.
	Fail      string `json:"fail,omitempty"`
	FailUsage string `json:"fail_usage,omitempty"`
	// BurnPerMinute moves credits from available to used as time passes,
	// so that a demo dashboard shows a burn rate and a forecast.
	BurnPerMinute float64 `json:"burn_per_minute,omitempty"`
	// Delay holds every answer back this long (a slow API).
	Delay Duration `json:"delay,omitempty"`
	// LimitHeaders adds X-RateLimit-Limit and X-RateLimit-Reset to this
	// key's answers, as older API versions did (see Server.LimitHeaders).
	LimitHeaders bool `json:"limit_headers,omitempty"`

	burnSince time.Time
}

// Duration is a time.Duration that reads "1.5s" from JSON.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		*d = Duration(v)
		return err
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Server is the fake API. Its zero value is not usable: call New.
type Server struct {
	mu         sync.Mutex
	accounts   map[string]*Account
	requests   map[string]int // by endpoint: "balance", "usage"
	keysSeen   map[string]int // every x-api-key value presented, for leak tests
	window     map[string]*rateWindow
	RateLimit  int    // requests per minute per key; 0 disables the headers
	RetryAfter string // value of Retry-After on a 429; "" omits the header
	RedirectTo string // Location of a redirect
	// LimitHeaders adds X-RateLimit-Limit and X-RateLimit-Reset to every
	// answer, as older API versions did; by default only
	// X-RateLimit-Remaining is sent, as the API's current docs promise.
	LimitHeaders bool
	NoReset      bool // with LimitHeaders, still omit X-RateLimit-Reset
	// NoUsage answers the usage endpoint 404 for every key, as an API
	// without it would (its requests are still counted).
	NoUsage   bool
	now       func() time.Time
	hang      chan struct{} // closed by Close to release hanging handlers
	closeOnce sync.Once
	chaos     *chaos // nil unless Chaos was called
	served    []Served
}

type rateWindow struct {
	start time.Time
	used  int
}

// New returns a fake API that knows one key with the documented example
// balance.
func New(key string) *Server {
	s := &Server{
		accounts:   map[string]*Account{},
		requests:   map[string]int{},
		keysSeen:   map[string]int{},
		window:     map[string]*rateWindow{},
		RateLimit:  120,
		RetryAfter: "30",
		now:        time.Now,
		hang:       make(chan struct{}),
	}
	if key != "" {
		s.SetAccount(key, Account{Available: 950, Frozen: 10, TasksCreated: 42, CreditsUsed: 350, CreditsToppedUp: 1000})
	}
	return s
}

// Close releases handlers that are hanging on purpose (FailHang), so that an
// httptest.Server can shut down.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.hang) }) }

// SetAccount creates or replaces the account for key.
func (s *Server) SetAccount(key string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.burnSince = s.now()
	s.accounts[key] = &a
}

// Update changes the account for key under the lock; it panics on an
// unknown key (a test bug).
func (s *Server) Update(key string, fn func(*Account)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.accounts[key])
}

// Requests returns how many requests reached endpoint ("balance", "usage").
func (s *Server) Requests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// KeysSeen returns how many requests presented each key.
func (s *Server) KeysSeen() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.keysSeen))
	for k, v := range s.keysSeen {
		m[k] = v
	}
	return m
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v1/account/balance":
		s.serveAPI(w, r, "balance")
	case r.URL.Path == "/api/v1/account/usage":
		s.serveAPI(w, r, "usage")
	case strings.HasPrefix(r.URL.Path, "/fake/"):
		s.serveControl(w, r)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, endpoint string) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	key := r.Header.Get("x-api-key")
	s.mu.Lock()
	s.requests[endpoint]++
	s.keysSeen[key]++
	acct, ok := s.accounts[key]
	var a Account
	if ok {
		s.burn(acct)
		a = *acct
	}
	limitHeaders := s.LimitHeaders || a.LimitHeaders
	s.setRateHeaders(w.Header(), key, limitHeaders)
	if ok && s.chaos != nil {
		s.drawChaos(&a, w.Header(), key, endpoint, limitHeaders)
	}
	s.mu.Unlock()

	if a.Delay > 0 {
		select {
		case <-time.After(time.Duration(a.Delay)):
		case <-r.Context().Done():
			return
		case <-s.hang:
			return
		}
	}
	if key == "" {
		writeError(w, http.StatusUnauthorized, "missing x-api-key header")
		return
	}
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid API key")
		return
	}
	fail := a.Fail
	if endpoint == "usage" && a.FailUsage != "" {
		fail = a.FailUsage
	}
	if endpoint == "usage" && s.NoUsage {
		fail = FailNotFound
	}
	if s.fail(w, r, fail) {
		return
	}
	switch endpoint {
	case "balance":
		writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": map[string]float64{
			"available": a.Available, "frozen": a.Frozen, "total": a.Available + a.Frozen,
		}})
	case "usage":
		writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": map[string]float64{
			"tasks_created": a.TasksCreated, "credits_used": a.CreditsUsed, "credits_topped_up": a.CreditsToppedUp,
		}})
	}
}

// burn applies BurnPerMinute since the last look; s.mu is held.
func (s *Server) burn(a *Account) {
	now := s.now()
	if a.BurnPerMinute > 0 {
		spent := a.BurnPerMinute * now.Sub(a.burnSince).Minutes()
		if spent > a.Available {
			spent = a.Available
		}
		a.Available -= spent
		a.CreditsUsed += spent
	}
	a.burnSince = now
}

// setRateHeaders counts the request against key's one-minute window and
// sets X-RateLimit-Remaining, and with limitHeaders X-RateLimit-Limit and
// X-RateLimit-Reset too; s.mu is held.
func (s *Server) setRateHeaders(h http.Header, key string, limitHeaders bool) {
	if s.RateLimit <= 0 {
		return
	}
	now := s.now()
	win := s.window[key]
	if win == nil || now.Sub(win.start) >= time.Minute {
		win = &rateWindow{start: now}
		s.window[key] = win
	}
	win.used++
	remaining := s.RateLimit - win.used
	if remaining < 0 {
		remaining = 0
	}
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	if !limitHeaders {
		return
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.RateLimit))
	if !s.NoReset {
		h.Set("X-RateLimit-Reset", strconv.FormatInt(win.start.Add(time.Minute).Unix(), 10))
	}
}

// fail writes the answer of a failure mode and reports whether it did.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, mode string) bool {
	switch mode {
	case FailNone:
		return false
	case FailUnauthorized:
		writeError(w, http.StatusUnauthorized, "invalid API key")
	case FailRateLimited:
		if s.RetryAfter != "" {
			w.Header().Set("Retry-After", s.RetryAfter)
		}
		writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
	case FailEchoKey:
		writeError(w, http.StatusUnauthorized, "key "+r.Header.Get("x-api-key")+" is not valid")
	case FailServerError:
		writeError(w, http.StatusInternalServerError, "internal error")
	case FailBadGateway:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	case FailPayment:
		writeError(w, http.StatusPaymentRequired, "insufficient credits")
	case FailNotFound:
		writeError(w, http.StatusNotFound, "not found")
	case FailMethodNotAllowed:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	case FailNotImplemented:
		writeError(w, http.StatusNotImplemented, "not implemented")
	case FailAPIError:
		writeJSON(w, http.StatusOK, map[string]any{"code": 500, "message": "balance service unavailable"})
	case FailDecode:
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "this is not JSON")
	case FailMissingField:
		writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": map[string]any{"available": 950, "frozen": 10}})
	case FailStringNumber:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"code":200,"data":{"available":"950","frozen":10,"total":960}}`)
	case FailHugeBody:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"code":200,"data":{"available":950,"frozen":10,"total":960},"pad":"`)
		pad := strings.Repeat("x", 64<<10)
		for i := 0; i < 20; i++ { // 1.25 MiB
			fmt.Fprint(w, pad)
		}
		fmt.Fprint(w, `"}`)
	case FailRedirect:
		http.Redirect(w, r, s.RedirectTo, http.StatusFound)
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
	case FailSlowBody:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"code":200,"data":{"available":`)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
	default:
		writeError(w, http.StatusInternalServerError, "fakesunor: unknown failure mode "+mode)
	}
	return true
}

// Served is one answer the fake gave in chaos mode.
type Served struct {
	At       time.Time // when the request reached the fake and its answer was chosen
	Key      string
	Endpoint string    // "balance" or "usage"
	Fail     string    // the failure mode; FailNone for a good answer
	Values   []float64 // a good answer's fields in the API's order: available, frozen, total; tasks_created, credits_used, credits_topped_up
	// LowUntil is set on a good answer that said the key's window is
	// nearly spent (by the user's own traffic): X-RateLimit-Remaining 3,
	// and, with the limit headers, X-RateLimit-Reset this time, one or two
	// seconds ahead; without them, a minute after At (the API's window).
	LowUntil time.Time
}

// lowRemaining is the deck's card for a good answer with LowUntil.
const lowRemaining = "low_remaining"

// chaos is the deck that answers requests in chaos mode.
type chaos struct {
	rng  *rand.Rand
	deck []string // failure modes, FailNone for a good answer; drawn from the end
}

// Chaos answers every request to either endpoint, for every key the fake
// knows, with the next card of a shuffled deck: each failure mode once, as
// many good answers, each with new random fractional values, and one more
// good answer that says the key's window is nearly spent. The deck
// is reshuffled when drawn out. A deck rather than independent draws, so
// that a client making few calls (the exporter within its budget) still
// meets every mode; cards rather than a switch every so often, so that
// every call counts. The same seed deals the same cards in the same order.
// From then on every answer is recorded: see Served.
func (s *Server) Chaos(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = &chaos{rng: rand.New(rand.NewPCG(seed, 0))}
}

// Served returns every answer given in chaos mode, in the order given.
func (s *Server) Served() []Served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Served(nil), s.served...)
}

// drawChaos sets a, the copy of key's account that answers this request,
// and h, its headers, to the next card, and records it; s.mu is held.
func (s *Server) drawChaos(a *Account, h http.Header, key, endpoint string, limitHeaders bool) {
	c := s.chaos
	if len(c.deck) == 0 {
		for _, m := range FailModes {
			c.deck = append(c.deck, m, FailNone)
		}
		c.deck = append(c.deck, lowRemaining)
		c.rng.Shuffle(len(c.deck), func(i, j int) { c.deck[i], c.deck[j] = c.deck[j], c.deck[i] })
	}
	mode := c.deck[len(c.deck)-1]
	c.deck = c.deck[:len(c.deck)-1]
	rec := Served{At: s.now(), Key: key, Endpoint: endpoint}
	if mode == lowRemaining {
		// The reset in whole seconds, as the header has it.
		h.Set("X-RateLimit-Remaining", "3")
		if limitHeaders {
			rec.LowUntil = time.Unix(rec.At.Unix()+2, 0)
			h.Set("X-RateLimit-Reset", strconv.FormatInt(rec.LowUntil.Unix(), 10))
		} else {
			// No Reset: the exporter waits out the API's documented
			// one-minute window from the answer.
			rec.LowUntil = rec.At.Add(time.Minute)
		}
		mode = FailNone
	}
	a.Fail, a.FailUsage, rec.Fail = mode, mode, mode
	if mode == FailNone {
		// Fractional, at full float64 precision: a value that is rounded,
		// truncated or mixed with another answer's anywhere on its way to
		// Prometheus no longer matches.
		switch endpoint {
		case "balance":
			a.Available, a.Frozen = c.rng.Float64()*1e6, c.rng.Float64()*1e3
			rec.Values = []float64{a.Available, a.Frozen, a.Available + a.Frozen}
		case "usage":
			a.TasksCreated, a.CreditsUsed, a.CreditsToppedUp = c.rng.Float64()*1e4, c.rng.Float64()*1e6, c.rng.Float64()*1e6
			rec.Values = []float64{a.TasksCreated, a.CreditsUsed, a.CreditsToppedUp}
		}
	}
	s.served = append(s.served, rec)
}

// ControlAPI documents the HTTP control API, for `fakesunor -h` and
// docs/development.md (a test keeps the three in step with Account and
// the failure modes).
const ControlAPI = `Control API (no key needed; for scripts and people):

  PUT  /fake/accounts/{key}  create or change the account of that key; the body
                             is JSON with any of the fields below, and a field
                             left out keeps its value (0 or "" for a new key)
  GET  /fake/accounts/{key}  the account, as JSON
  GET  /fake/requests        requests that reached each endpoint: {"balance":N,"usage":N}
  GET  /fake/connections     (the fakesunor command) TCP connections open now,
                             the most at once and the total: {"open":N,"peak":N,"total":N}
  POST /fake/connections/reset  start a new peak and total

Fields of an account:

  available          credits available (balance endpoint)
  frozen             credits frozen by running tasks; total is available + frozen
  tasks_created      lifetime counters of the usage endpoint
  credits_used
  credits_topped_up
  fail               a failure mode for both endpoints (below); "" answers normally
  fail_usage         a failure mode for the usage endpoint only, over fail
  burn_per_minute    credits moved from available to credits_used each minute
  delay              hold every answer back this long: "1.5s", or a number of seconds
  limit_headers      true: also send X-RateLimit-Limit and X-RateLimit-Reset (older API)

Failure modes (fail, fail_usage):

  unauthorized        401 with the API's error body
  rate_limited        429 with Retry-After: 30
  server_error        500 with the API's error body
  bad_gateway         502 with an HTML page, as a proxy sends
  http_status         402 insufficient credits
  api_error           HTTP 200 whose body code is 500
  decode              HTTP 200, a body that is not JSON
  missing_field       HTTP 200 without the total field
  string_number       HTTP 200 with "available":"950"
  huge_body           a body over 1 MiB
  redirect            302 elsewhere
  hang                no answer until the client gives up
  slow_body           headers at once, a body that never ends
  echo_key            401 whose message repeats the key
  not_found           404: an API without the endpoint (as usage may be)
  method_not_allowed  405
  not_implemented     501

Example: curl -X PUT -d '{"available":8}' http://127.0.0.1:18080/fake/accounts/demo-key
`

// serveControl is the HTTP control API, for scripts: see ControlAPI.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/fake/requests" {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.requests)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/fake/accounts/")
	if !ok || key == "" {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, exists := s.accounts[key]
	switch r.Method {
	case http.MethodGet:
		if !exists {
			writeError(w, http.StatusNotFound, "no such account")
			return
		}
		s.burn(a)
		writeJSON(w, http.StatusOK, a)
	case http.MethodPut:
		next := Account{}
		if exists {
			s.burn(a)
			next = *a
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&next); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		next.burnSince = s.now()
		s.accounts[key] = &next
		writeJSON(w, http.StatusOK, next)
	default:
		writeError(w, http.StatusMethodNotAllowed, "use GET or PUT")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"code": status, "message": msg})
}
