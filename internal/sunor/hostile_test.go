package sunor

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/testing/hostileapi"
)

// Keys the hostile tests run with: a plain one, and one with every
// character that quoting or URL-encoding changes.
var hostileKeys = []string{
	"sk-live-4fJ9qT2xWm8ZpR6vLc3NbY7dK1hG5sA0",
	`sk-"q\u/b+s=e&p%l<t>w;c:x'y*z!a@b#c$d^e~`,
}

// leak returns the first piece of key of redact.MinPiece characters that text
// holds, in any case, or "".
func leak(text, key string) string {
	lt, lk := strings.ToLower(text), strings.ToLower(key)
	for i := 0; i+redact.MinPiece <= len(lk); i++ {
		if strings.Contains(lt, lk[i:i+redact.MinPiece]) {
			return key[i : i+redact.MinPiece]
		}
	}
	return ""
}

// checkText fails the test when an error's text shows a piece of key, holds
// a line break, or is long enough to flood a log.
func checkText(t *testing.T, err error, key string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	text := err.Error()
	if p := leak(text, key); p != "" {
		t.Errorf("error text shows the key piece %q: %.300q", p, text)
	}
	if strings.ContainsAny(text, "\r\n") {
		t.Errorf("error text holds a line break: %.300q", text)
	}
	if len(text) > 2048 {
		t.Errorf("error text is %d bytes: %.300q", len(text), text)
	}
	var e *Error
	if errors.As(err, &e) {
		for name, s := range map[string]string{"Message": e.Message, "Location": e.Location} {
			if n := len([]rune(s)); n > MaxTextChars+len("... (99999999 bytes in all)") {
				t.Errorf("%s is %d characters", name, n)
			}
		}
	}
}

// hostileClient returns a client of the fake that h answers as, sending key.
func hostileClient(t *testing.T, key string, h hostileapi.Handler) *Client {
	t.Helper()
	srv := hostileapi.New(t, h)
	base, err := baseurl.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(base, &http.Client{}, func(context.Context) string { return key })
}

func fetch(t *testing.T, c *Client) (RateLimit, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, rl, err := c.Fetch(ctx, Balance)
	return rl, err
}

func raw(format string, args ...any) hostileapi.Handler {
	return func(_ *http.Request, key string) hostileapi.Reply {
		return hostileapi.Reply{Raw: []byte(strings.ReplaceAll(fmt.Sprintf(format, args...), "KEY", key))}
	}
}

// jsonBody answers with HTTP status and an error body whose code is the
// status's, or 401 under HTTP 200 (an api_error).
func jsonBody(status, message string) hostileapi.Handler {
	code := status[:3]
	if code == "200" {
		code = "401"
	}
	return func(_ *http.Request, key string) hostileapi.Reply {
		m, _ := json.Marshal(strings.ReplaceAll(message, "KEY", key))
		body := fmt.Sprintf(`{"code":%s,"message":%s}`, code, m)
		return hostileapi.Reply{Raw: fmt.Appendf(nil, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)}
	}
}

// TestHostileEchoes: wherever a server echoes the key (in a malformed
// status line or header that the HTTP library quotes in its error, in a
// message, in a Location), no piece of it reaches the error text.
func TestHostileEchoes(t *testing.T) {
	cases := map[string]struct {
		h      hostileapi.Handler
		reason Reason
		// form, when set, is the encoding of the key that h echoes: no
		// piece of it may show either.
		form func(key string) string
	}{
		"status code":       {raw("HTTP/1.1 KEY OK\r\n\r\n"), ReasonNetwork, nil},
		"status line":       {raw("KEY\r\n\r\n"), ReasonNetwork, nil},
		"protocol":          {raw("HTTP/KEY 200 OK\r\n\r\n"), ReasonNetwork, nil},
		"header line":       {raw("HTTP/1.1 200 OK\r\nKEY\r\n\r\n"), ReasonNetwork, nil},
		"content-length":    {raw("HTTP/1.1 200 OK\r\nContent-Length: KEY\r\n\r\n"), ReasonNetwork, nil},
		"transfer-encoding": {raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: KEY\r\n\r\n"), ReasonNetwork, nil},
		"chunked garbage":   {raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nKEY\r\nKEY\r\n0\r\n\r\n"), ReasonNetwork, nil},
		"chunk extension":   {raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;KEY\r\nKEY\r\n0\r\n\r\n"), ReasonNetwork, nil},
		"message 401":       {jsonBody("401 Unauthorized", "key KEY is not valid"), ReasonUnauthorized, nil},
		"message 429":       {jsonBody("429 Too Many Requests", "slow down, KEY"), ReasonRateLimited, nil},
		"message 200":       {jsonBody("200 OK", "key KEY is not valid"), ReasonAPIError, nil},
		"location":          {raw("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/?key=KEY\r\nContent-Length: 0\r\n\r\n"), ReasonRedirect, nil},
		"location path": {func(_ *http.Request, key string) hostileapi.Reply {
			return hostileapi.Reply{Raw: []byte("HTTP/1.1 301 Moved\r\nLocation: /" + url.PathEscape(key) + "/balance\r\nContent-Length: 0\r\n\r\n")}
		}, ReasonRedirect, url.PathEscape},
		// Go's client parses a Location even when it does not follow it,
		// and quotes the one it cannot parse.
		"location unparsable": {raw("HTTP/1.1 302 Found\r\nLocation: /%%zz/KEY\r\nContent-Length: 0\r\n\r\n"), ReasonNetwork, nil},
		"location escaped": {func(_ *http.Request, key string) hostileapi.Reply {
			return hostileapi.Reply{Raw: []byte("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/?key=" + url.QueryEscape(key) + "\r\nContent-Length: 0\r\n\r\n")}
		}, ReasonRedirect, url.QueryEscape},
		"basic credential": {func(_ *http.Request, key string) hostileapi.Reply {
			cred := base64.StdEncoding.EncodeToString([]byte("user:" + key))
			return jsonBody("401 Unauthorized", "Authorization: Basic "+cred)(nil, key)
		}, ReasonUnauthorized, func(key string) string {
			// The first 7 characters encode "user:" and the key's first bits.
			return base64.StdEncoding.EncodeToString([]byte("user:" + key))[7:]
		}},
		"hex": {func(_ *http.Request, key string) hostileapi.Reply {
			return jsonBody("402 Payment Required", hex.EncodeToString([]byte(key)))(nil, key)
		}, ReasonHTTPStatus, func(key string) string { return hex.EncodeToString([]byte(key)) }},
		"upper case": {func(_ *http.Request, key string) hostileapi.Reply {
			return jsonBody("401 Unauthorized", strings.ToUpper(key))(nil, key)
		}, ReasonUnauthorized, nil},
	}
	for name, tc := range cases {
		for _, key := range hostileKeys {
			t.Run(name, func(t *testing.T) {
				_, err := fetch(t, hostileClient(t, key, tc.h))
				var e *Error
				if !errors.As(err, &e) || e.Reason != tc.reason {
					t.Errorf("err = %.300q, want reason %s", err, tc.reason)
				}
				checkText(t, err, key)
				if tc.form != nil && err != nil {
					if p := leak(err.Error(), tc.form(key)); p != "" {
						t.Errorf("error text shows %q of the encoded key: %.300q", p, err)
					}
				}
			})
		}
	}
}

// TestHostileKeyAcrossTheCut: a key that straddles the 200th character is
// redacted whole; cutting first would have left its beginning behind.
func TestHostileKeyAcrossTheCut(t *testing.T) {
	for _, key := range hostileKeys {
		for pad := MaxTextChars - len(key); pad <= MaxTextChars; pad++ {
			msg := strings.Repeat("x", pad) + "KEY and more"
			_, err := fetch(t, hostileClient(t, key, jsonBody("401 Unauthorized", msg)))
			checkText(t, err, key)
		}
	}
}

// TestHostileKeyRotatedInFlight: the key file is rotated while a call is in
// flight and the server echoes the key it was sent. That key, not the
// current one, is what the error must not show.
func TestHostileKeyRotatedInFlight(t *testing.T) {
	const oldKey, newKey = "sk-old-key-0123456789abcdef", "sk-new-key-fedcba9876543210"
	var calls atomic.Int32
	srv := hostileapi.New(t, jsonBody("401 Unauthorized", "key KEY is not valid"))
	base, err := baseurl.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(base, &http.Client{}, func(context.Context) string {
		if calls.Add(1) == 1 {
			return oldKey
		}
		return newKey // the file changed after the first read
	})
	_, err = fetch(t, c)
	checkText(t, err, oldKey)
	if calls.Load() != 1 {
		t.Errorf("the key was read %d times for one call, want once", calls.Load())
	}
}

// TestHostileFloods: strings of hundreds of kilobytes from the API become a
// short error, every time, whatever they hold.
func TestHostileFloods(t *testing.T) {
	const key = "sk-live-4fJ9qT2xWm8ZpR6vLc3NbY7dK1hG5sA0"
	big := func(n int) string { return strings.Repeat("é", n/2) }
	cases := map[string]hostileapi.Handler{
		"900 KB message":       jsonBody("500 Internal Server Error", big(900_000)),
		"900 KB api message":   jsonBody("200 OK", big(900_000)),
		"5 MiB location":       raw("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/%s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("a", 5<<20)),
		"500 KB status line":   raw("HTTP/1.1 2%s OK\r\n\r\n", strings.Repeat("0", 500_000)),
		"500 KB reason phrase": raw("HTTP/1.1 502 %s\r\nContent-Length: 0\r\n\r\n", big(500_000)),
		"500 KB header line":   raw("HTTP/1.1 200 OK\r\n%s\r\n\r\n", strings.Repeat("k", 500_000)),
		"keys in a flood":      jsonBody("401 Unauthorized", strings.Repeat("KEY", 10_000)),
		"log line injection":   jsonBody("401 Unauthorized", "bad key\nlevel=info msg=\"all is well\"\r\x1b[2J\u2028\x00"),
		"invalid UTF-8":        raw("HTTP/1.1 401 Unauthorized\r\nContent-Length: 27\r\n\r\n{\"code\":401,\"message\":\"\xff\xfe\"}"),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := fetch(t, hostileClient(t, key, h))
			checkText(t, err, key)
		})
	}
}

// TestHostileCutKeepsCharacters: the cut never splits a character, and
// says how long the text was.
func TestHostileCutKeepsCharacters(t *testing.T) {
	_, err := fetch(t, hostileClient(t, "sk-key-not-in-the-text", jsonBody("500 Internal Server Error", strings.Repeat("é", 300))))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	want := strings.Repeat("é", MaxTextChars) + "... (600 bytes in all)"
	if e.Message != want {
		t.Errorf("Message = %q, want %q", e.Message, want)
	}
}

// TestHostileRateLimitHeaders: a reset that overflowed int64 nanoseconds,
// or one in milliseconds, is dropped, and so are impossible limits.
func TestHostileRateLimitHeaders(t *testing.T) {
	const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1}}`
	for _, tc := range []struct{ limit, remaining, reset string }{
		{"120", "119", "9220000000"},
		{"120", "119", "9.22e9"},
		{"120", "119", "1700000000000"},
		{"120", "119", "1.7e12"},
		{"-1", "1e300", "NaN"},
	} {
		h := raw("HTTP/1.1 200 OK\r\nX-RateLimit-Limit: %s\r\nX-RateLimit-Remaining: %s\r\nX-RateLimit-Reset: %s\r\nContent-Length: %d\r\n\r\n%s",
			tc.limit, tc.remaining, tc.reset, len(body), body)
		rl, err := fetch(t, hostileClient(t, "k", h))
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if rl.HasReset {
			t.Errorf("reset %s kept as %v", tc.reset, rl.Reset)
		}
		if tc.limit == "120" && (!rl.HasLimit || rl.Limit != 120 || !rl.HasRemaining || rl.Remaining != 119) {
			t.Errorf("%+v: good limits lost: %+v", tc, rl)
		}
		if tc.limit == "-1" && (rl.HasLimit || rl.HasRemaining) {
			t.Errorf("%+v: impossible limits kept: %+v", tc, rl)
		}
	}
}

// TestHostileRedirects: only a 3xx that points somewhere is a redirect.
func TestHostileRedirects(t *testing.T) {
	for _, tc := range []struct {
		status, location string
		reason           Reason
	}{
		{"304 Not Modified", "", ReasonHTTPStatus},
		{"300 Multiple Choices", "", ReasonHTTPStatus},
		{"302 Found", "", ReasonHTTPStatus},
		{"304 Not Modified", "https://elsewhere/", ReasonHTTPStatus},
		{"300 Multiple Choices", "https://elsewhere/", ReasonRedirect},
		{"308 Permanent Redirect", "https://elsewhere/", ReasonRedirect},
	} {
		head := "HTTP/1.1 " + tc.status + "\r\n"
		if tc.location != "" {
			head += "Location: " + tc.location + "\r\n"
		}
		_, err := fetch(t, hostileClient(t, "k", raw("%sContent-Length: 0\r\n\r\n", head)))
		var e *Error
		if !errors.As(err, &e) || e.Reason != tc.reason {
			t.Errorf("%s, Location %q: err = %v, want reason %s", tc.status, tc.location, err, tc.reason)
			continue
		}
		if hint := strings.Contains(err.Error(), "--sunor.url"); hint != (tc.reason == ReasonRedirect) {
			t.Errorf("%s, Location %q: %q; the --sunor.url hint belongs to redirects only", tc.status, tc.location, err)
		}
	}
}

// TestHostileRetryAfter: a Retry-After too long for a time.Duration
// saturates instead of wrapping to a short or negative back-off.
func TestHostileRetryAfter(t *testing.T) {
	for _, v := range []string{"9223372037", "99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		_, err := fetch(t, hostileClient(t, "k", raw("HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n", v)))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonRateLimited || e.RetryAfter < 100*365*24*time.Hour {
			t.Errorf("Retry-After %s: err = %v, back-off %v; want rate_limited with the longest back-off", v, err, e.RetryAfter)
		}
	}
}

// TestHostileHangAndShortBody: a server that stops answering is a timeout
// at the caller's deadline; one that closes early is a network error.
func TestHostileHangAndShortBody(t *testing.T) {
	hang := hostileClient(t, "k", func(*http.Request, string) hostileapi.Reply {
		return hostileapi.Reply{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"code\""), Hang: true}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var e *Error
	if _, _, err := hang.Fetch(ctx, Balance); !errors.As(err, &e) || e.Reason != ReasonTimeout {
		t.Errorf("hanging body: err = %v, want a timeout", err)
	}
	short := hostileClient(t, "k", raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"code\""))
	if _, err := fetch(t, short); !errors.As(err, &e) || e.Reason != ReasonNetwork {
		t.Errorf("short body: err = %v, want a network error", err)
	}
	trickle := hostileClient(t, "k", func(*http.Request, string) hostileapi.Reply {
		return hostileapi.Reply{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat(" ", 100)), Trickle: 20 * time.Millisecond}
	})
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := trickle.Fetch(ctx, Balance); !errors.As(err, &e) || e.Reason != ReasonTimeout {
		t.Errorf("trickling answer: err = %v, want a timeout", err)
	}
}

// TestHostileSwitchingProtocols: a 101 answer that keeps the connection
// gives Go's client the raw connection as the body, which no request
// deadline reaches. The call still ends at its deadline, as a failure
// with a reason, whatever the server does next, and lets the connection
// go: many such calls leave nothing open.
func TestHostileSwitchingProtocols(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"hangs", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"},
		{"sends a balance", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" + `{"code":200,"data":{"available":1,"frozen":0,"total":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hostileapi.New(t, func(*http.Request, string) hostileapi.Reply {
				return hostileapi.Reply{Raw: []byte(tc.raw), Hang: true}
			})
			base, err := baseurl.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			c := NewClient(base, &http.Client{}, func(context.Context) string { return "k" })
			const calls = 40
			errs := make(chan error, calls)
			for range calls {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					defer cancel()
					_, _, err := c.Fetch(ctx, Balance)
					errs <- err
				}()
			}
			deadline := time.After(10 * time.Second)
			for range calls {
				select {
				case err := <-errs:
					var e *Error
					if !errors.As(err, &e) || e.Reason != ReasonHTTPStatus || e.StatusCode != 101 {
						t.Errorf("err = %v, want http_status (HTTP 101)", err)
					}
				case <-deadline:
					t.Fatal("calls to an API answering 101 did not return by their deadline")
				}
			}
			// The server sees each connection close: nothing is kept.
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for srv.Open() > 0 {
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("%d connections still open after every call returned", srv.Open())
				}
			}
		})
	}
}

// TestErrorNamesThePathCalled: a base URL that already ends in the API's
// path doubles it, and the 404 that follows names the path that was
// called, without the key, so that the mistake shows. (A base URL with a
// query is refused by ParseBaseURL.)
func TestErrorNamesThePathCalled(t *testing.T) {
	srv := hostileapi.New(t, raw("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	base, err := baseurl.Parse(srv.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(base, &http.Client{}, func(context.Context) string { return "KEY" })
	_, err = fetch(t, c)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 404 {
		t.Fatalf("err = %v, want an HTTP 404", err)
	}
	const want = "/api/v1/api/v1/account/balance"
	if e.Path != want || !strings.Contains(e.Error(), want) {
		t.Errorf("Path = %q, Error() = %q; want both to show %s", e.Path, e.Error(), want)
	}
	if strings.Contains(e.Error(), "KEY") {
		t.Errorf("Error() = %q shows the key", e.Error())
	}
}

// TestRetriesAreCounted: an API that keeps connections and closes a kept
// one after reading a request, without answering, makes Go's transport
// write the request again on a new connection. The API then reads two
// requests for one call; OnRetry reports the second, so that calls plus
// retries is what the API saw, whenever the client reuses a connection.
func TestRetriesAreCounted(t *testing.T) {
	const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1}}`
	srv := hostileapi.New(t, hostileapi.OneAnswerPerConnection(body))
	base, err := baseurl.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(base, &http.Client{Transport: &http.Transport{}}, func(context.Context) string { return "k" })
	var counted atomic.Int64
	for range 20 {
		counted.Add(1) // the call, as the collector counts it
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := c.Fetch(OnRetry(ctx, func() { counted.Add(1) }), Balance)
		cancel()
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if seen := srv.Requests(); int64(seen) != counted.Load() {
			t.Fatalf("the API read %d requests, the client counted %d", seen, counted.Load())
		}
	}
	if retried := counted.Load() - 20; retried == 0 {
		t.Fatal("no request was retried: the test did not test anything")
	}
}
