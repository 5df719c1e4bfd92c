package main

// The real program against a hostile API (internal/testing/hostileapi) and hostile
// key files: the key never shows, in any form the sunor package documents,
// in a log line, a metric, the landing page or a start-up error, and no log
// line grows past 4 KiB, whatever the API sends.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/testing/hostileapi"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// hostileKeys are the keys the hostile tests run with: the canary, and one
// with every character that quoting or URL-encoding changes.
var hostileKeys = []string{canaryKey, `sk-"q\u/b+s=e&p%l<t>w;c:x'y*z!a@b#c$d^e~`}

const maxLogLine = 4 << 10

// keyPiece returns the first piece of 10 characters of any of keys that
// text holds, in any case, or "".
func keyPiece(text string, keys ...string) string {
	lt := strings.ToLower(text)
	for _, k := range keys {
		lk := strings.ToLower(k)
		for i := 0; i+10 <= len(lk); i++ {
			if strings.Contains(lt, lk[i:i+10]) {
				return k[i : i+10]
			}
		}
	}
	return ""
}

// checkNoLeak fails the test when a text shows a piece of a key or the log
// has a line longer than maxLogLine or one injected by the API.
func checkNoLeak(t *testing.T, log string, pages []string, keys ...string) {
	t.Helper()
	// logfmt escapes quotes and backslashes in a value as Go does, which
	// would hide a key that holds them from a plain search.
	inLog := slices.Clone(keys)
	for _, k := range keys {
		q := strconv.Quote(k)
		inLog = append(inLog, q[1:len(q)-1])
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, `level=info msg="all is well"`) {
			t.Errorf("the API injected a log line: %.400s", line)
		}
		if p := keyPiece(line, inLog...); p != "" {
			t.Errorf("a log line shows the key piece %q: %.400s", p, line)
		}
		if len(line) > maxLogLine {
			t.Errorf("a log line is %d bytes: %.400s", len(line), line)
		}
	}
	for _, page := range pages {
		if p := keyPiece(page, keys...); p != "" {
			t.Errorf("a page shows the key piece %q: %.400s", p, page)
		}
	}
}

// fetchPage gets url with a deadline, so that a hung exporter fails the
// test instead of blocking it.
func fetchPage(t *testing.T, url string) string {
	t.Helper()
	_, page := testtool.Get(t, url)
	return page
}

// reply is a raw answer with KEY standing for the key of the request.
func reply(format string, args ...any) hostileapi.Handler {
	return func(_ *http.Request, key string) hostileapi.Reply {
		return hostileapi.Reply{Raw: []byte(strings.ReplaceAll(fmt.Sprintf(format, args...), "KEY", key))}
	}
}

// errorBody answers with HTTP status and the documented error body.
func errorBody(status int, message string) hostileapi.Handler {
	return func(_ *http.Request, key string) hostileapi.Reply {
		m, _ := json.Marshal(strings.ReplaceAll(message, "KEY", key))
		body := fmt.Sprintf(`{"code":%d,"message":%s}`, status, m)
		return hostileapi.Reply{Raw: fmt.Appendf(nil, "HTTP/1.1 %d Oops\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)}
	}
}

// balanceWith answers 200 with a good balance and the given extra headers.
func balanceWith(headers string) hostileapi.Handler {
	const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1,"tasks_created":1,"credits_used":1,"credits_topped_up":1}}`
	return reply("HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", headers, len(body), body)
}

// TestHostileAPI runs the exporter once per misbehaviour of the API: the
// key echoed in every part of an answer, in encodings, across the 200th
// character; floods of hundreds of kilobytes; impossible rate-limit
// headers; 3xx without a Location; a Retry-After beyond time.Duration.
func TestHostileAPI(t *testing.T) {
	big := strings.Repeat("é", 450_000)
	cases := []struct {
		name  string
		h     hostileapi.Handler
		check func(t *testing.T, metrics, log string, srv *hostileapi.Server, e *exporter)
	}{
		{name: "key as status code", h: reply("HTTP/1.1 KEY OK\r\n\r\n")},
		{name: "key as status line", h: reply("KEY\r\n\r\n")},
		{name: "key in a header line", h: reply("HTTP/1.1 200 OK\r\nKEY\r\n\r\n")},
		{name: "key as Content-Length", h: reply("HTTP/1.1 200 OK\r\nContent-Length: KEY\r\n\r\n")},
		{name: "key as Transfer-Encoding", h: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: KEY\r\n\r\n")},
		{name: "key in chunked garbage", h: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;KEY\r\nKEY\r\n0\r\n\r\n")},
		{name: "key in message", h: errorBody(401, "key KEY is not valid")},
		{name: "key in api_error message", h: errorBody(200, "key KEY is not valid")},
		{name: "key in Location", h: reply("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/?key=KEY\r\nContent-Length: 0\r\n\r\n")},
		{name: "key upper-cased", h: func(r *http.Request, key string) hostileapi.Reply {
			return errorBody(401, strings.ToUpper(key))(r, key)
		}},
		{name: "key in a Basic credential", h: func(r *http.Request, key string) hostileapi.Reply {
			return errorBody(401, "Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+key)))(r, key)
		}},
		{name: "key across the cut", h: errorBody(401, strings.Repeat("x", 190)+"KEY")},
		{name: "900 KB message", h: errorBody(500, big)},
		{name: "5 MiB Location", h: reply("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/KEY%s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("a", 5<<20))},
		{name: "500 KB status line", h: reply("HTTP/1.1 2%sKEY OK\r\n\r\n", strings.Repeat("0", 500_000))},
		{name: "log line injection", h: errorBody(401, "KEY\nlevel=info msg=\"all is well\"\r\n")},
		{name: "hang", h: func(*http.Request, string) hostileapi.Reply {
			return hostileapi.Reply{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"), Hang: true}
		}},
		{name: "reset 9.22e9", h: balanceWith("X-RateLimit-Limit: 120\r\nX-RateLimit-Remaining: 119\r\nX-RateLimit-Reset: 9220000000\r\n"), check: noReset},
		{name: "reset 1.7e12", h: balanceWith("X-RateLimit-Limit: 120\r\nX-RateLimit-Remaining: 119\r\nX-RateLimit-Reset: 1700000000000\r\n"), check: noReset},
		{name: "impossible limits", h: balanceWith("X-RateLimit-Limit: -1\r\nX-RateLimit-Remaining: 1e300\r\nX-RateLimit-Reset: NaN\r\n"),
			check: func(t *testing.T, metrics, _ string, _ *hostileapi.Server, _ *exporter) {
				for _, name := range []string{"sunor_rate_limit_limit", "sunor_rate_limit_remaining", "sunor_rate_limit_reset_timestamp_seconds"} {
					if _, ok := parseMetrics(t, metrics)[name]; ok {
						t.Errorf("%s exposed from an impossible header", name)
					}
				}
			}},
		{name: "304 without Location", h: reply("HTTP/1.1 304 Not Modified\r\n\r\n"), check: notRedirect},
		{name: "300 without Location", h: reply("HTTP/1.1 300 Multiple Choices\r\nContent-Length: 0\r\n\r\n"), check: notRedirect},
		{name: "Retry-After 2^32 s", h: reply("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 4294967296\r\nContent-Length: 0\r\n\r\n"), check: backsOff},
		{name: "Retry-After year 9999", h: reply("HTTP/1.1 429 Too Many Requests\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\nContent-Length: 0\r\n\r\n"), check: backsOff},
	}
	for _, tc := range cases {
		for _, key := range hostileKeys {
			t.Run(tc.name, func(t *testing.T) {
				srv := hostileapi.New(t, tc.h)
				t.Setenv("SUNOR_API_KEY", key)
				e := start(t, "--sunor.url="+srv.URL, "--sunor.timeout=500ms", "--sunor.max-calls-per-minute=0")
				metrics := fetchPage(t, e.url+"/metrics")
				landing := fetchPage(t, e.url+"/")
				statusJSON := fetchPage(t, e.url+"/status?format=json")
				debug := fetchPage(t, e.url+"/probe?account=default&debug=true")
				if srv.Requests() == 0 {
					t.Fatal("the API was not called")
				}
				if tc.check != nil {
					tc.check(t, metrics, e.log.String(), srv, e)
				}
				e.stop()
				checkNoLeak(t, e.log.String(), []string{metrics, landing, statusJSON, debug}, key)
			})
		}
	}
}

func noReset(t *testing.T, metrics, _ string, _ *hostileapi.Server, _ *exporter) {
	t.Helper()
	m := parseMetrics(t, metrics)
	if _, ok := m["sunor_rate_limit_reset_timestamp_seconds"]; ok {
		t.Error("an impossible X-RateLimit-Reset is exposed")
	}
	if v, ok := sample(t, m, "sunor_rate_limit_remaining", nil); !ok || v != 119 {
		t.Errorf("sunor_rate_limit_remaining = %v (present %v), want 119: the good headers were lost", v, ok)
	}
}

func notRedirect(t *testing.T, metrics, log string, _ *hostileapi.Server, _ *exporter) {
	t.Helper()
	m := parseMetrics(t, metrics)
	if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"endpoint": "balance", "reason": "http_status"}); v != 1 {
		t.Errorf("errors{reason=http_status} = %v, want 1", v)
	}
	if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"endpoint": "balance", "reason": "redirect"}); v != 0 {
		t.Errorf("errors{reason=redirect} = %v, want 0", v)
	}
	if strings.Contains(log, "--sunor.url") {
		t.Errorf("a 3xx with nowhere to go got the --sunor.url hint:\n%s", log)
	}
}

// backsOff: the Retry-After is honoured (capped by the collector), so the
// next scrape calls nothing. One that overflowed to a negative back-off
// would call again at once.
func backsOff(t *testing.T, _, _ string, srv *hostileapi.Server, e *exporter) {
	t.Helper()
	n := srv.Requests()
	fetchPage(t, e.url+"/metrics")
	if srv.Requests() != n {
		t.Errorf("the scrape after a Retry-After beyond time.Duration called the API again (%d calls, then %d)", n, srv.Requests())
	}
}

// TestHostileKeyFile rotates the key file through everything that is not a
// key (control characters, a named pipe, 100 MB, a directory, no read
// permission), with a rotation while a call is in flight and an API that
// echoes every key it is sent.
func TestHostileKeyFile(t *testing.T) {
	keys := []string{canaryKey, "sk-ROTATED-B-5c8e1f0a3d", "sk-ROTATED-C-92b7d4e6f1", "sk-ROTATED-D-0a6c3e9b58"}
	var mu sync.Mutex
	var seen []string
	arrived, release := make(chan struct{}), make(chan struct{})
	var hold bool // the next request waits for release
	srv := hostileapi.New(t, func(_ *http.Request, key string) hostileapi.Reply {
		mu.Lock()
		seen = append(seen, key)
		h := hold
		hold = false
		mu.Unlock()
		if h {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-time.After(20 * time.Second): // a guard against a hang, not a wait
			}
		}
		return errorBody(401, "key KEY is not valid")(nil, key)
	})
	lastKey := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return ""
		}
		return seen[len(seen)-1]
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	put := func(content string, mode os.FileMode) {
		t.Helper()
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tmp, mode); err != nil {
			t.Fatal(err)
		}
		replace(t, tmp, path)
	}
	put(keys[0]+"\n", 0o600)
	t.Setenv("SUNOR_API_KEY", "")
	e := start(t, "--sunor.url="+srv.URL, "--sunor.api-key-file="+path, "--no-collector.usage", "--sunor.max-calls-per-minute=0")
	var pages []string
	scrape := func(want string) {
		t.Helper()
		begin := time.Now()
		pages = append(pages, fetchPage(t, e.url+"/metrics"), fetchPage(t, e.url+"/"), fetchPage(t, e.url+"/status?format=json"), fetchPage(t, e.url+"/probe?account=default&debug=true"))
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("the scrape took %v", took)
		}
		if got := lastKey(); got != want {
			t.Errorf("the API was sent key %q, want %q", got, want)
		}
	}
	scrape(keys[0])

	// The file is rotated while a call is in flight: the API echoes the
	// key that call sent, which must be redacted though it is no longer
	// the file's.
	mu.Lock()
	hold = true
	mu.Unlock()
	done := make(chan string, 1)
	go func() {
		_, page, err := testtool.Request(context.Background(), http.MethodGet, e.url+"/metrics", nil)
		if err != nil {
			page = err.Error()
		}
		done <- page
	}()
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not arrive")
	}
	put(keys[1], 0o600)
	close(release)
	select {
	case p := <-done:
		pages = append(pages, p)
	case <-time.After(20 * time.Second):
		t.Fatal("the scrape did not end")
	}
	scrape(keys[1])

	bad := 0
	fifo := filepath.Join(dir, "fifo")
	for _, b := range []struct {
		name string
		make func()
	}{
		{"control characters", func() { put("sk-BAD-\x00\x01-key\x7f", 0o600) }},
		{"named pipe", func() {
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			replace(t, fifo, path)
		}},
		{"100 MB", func() {
			put("sk-BIG", 0o600)
			if err := os.Truncate(path, 100<<20); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", func() {
			os.Remove(path)
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		b.make()
		bad++
		scrape(keys[1])
		scrape(keys[1]) // a second scrape: no second warning
		if n := strings.Count(e.log.String(), "keeping the previous key"); n != bad {
			t.Errorf("%s: %d warnings about the key file in all, want one per bad version (%d)", b.name, n, bad)
		}
	}
	// A directory, then a file again: read on the next use.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	put(keys[2], 0o600)
	scrape(keys[2])
	if os.Geteuid() != 0 { // root reads a file of mode 000
		put(keys[3], 0)
		scrape(keys[2])
		if err := os.Chmod(path, 0o600); err != nil { // changes no mtime, size or inode
			t.Fatal(err)
		}
		scrape(keys[3])
	}
	e.stop()
	checkNoLeak(t, e.log.String(), pages, keys...)
	if n := strings.Count(e.log.String(), "using the new key"); n < 2 {
		t.Errorf("%d lines about a new key taking effect, want one per rotation", n)
	}
}

func replace(t *testing.T, from, to string) {
	t.Helper()
	if err := os.RemoveAll(to); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestHostileKeyAtStartUp: a key that is not one stops the program with
// one line naming where it came from, never showing it, and promptly,
// whatever sits in place of the file.
func TestHostileKeyAtStartUp(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := file("sparse", canaryKey)
	if err := os.Truncate(sparse, 100<<20); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sunor.yml")
	writeConfig(t, cfg, "accounts:\n  - name: a\n    api_key_env: HOSTILE_KEY\n    url: http://127.0.0.1:1\n")
	for _, tc := range []struct {
		name      string
		env, args []string
		want      string
	}{
		{"CR LF in SUNOR_API_KEY", []string{"SUNOR_API_KEY", canaryKey + "\r\nX-Injected: 1"}, nil, "SUNOR_API_KEY"},
		{"DEL in SUNOR_API_KEY", []string{"SUNOR_API_KEY", canaryKey + "\x7f"}, nil, "SUNOR_API_KEY"}, // an environment cannot hold NUL
		{"LF in api_key_env", []string{"HOSTILE_KEY", canaryKey + "\n" + canaryKey}, []string{"--config.file=" + cfg}, "HOSTILE_KEY"},
		{"control characters in the file", nil, []string{"--sunor.api-key-file=" + file("ctl", canaryKey+"\x01\x7f")}, filepath.Join(dir, "ctl")},
		{"named pipe", nil, []string{"--sunor.api-key-file=" + fifo}, fifo},
		{"100 MB file", nil, []string{"--sunor.api-key-file=" + sparse}, "4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SUNOR_API_KEY", "")
			for i := 0; i+1 < len(tc.env); i += 2 {
				t.Setenv(tc.env[i], tc.env[i+1])
			}
			var stderr bytes.Buffer
			code := make(chan int, 1)
			go func() { code <- run(context.Background(), tc.args, io.Discard, &stderr) }()
			select {
			case c := <-code:
				if c != 1 || !strings.Contains(stderr.String(), tc.want) {
					t.Errorf("exit %d, %q; want 1 and a line naming %s", c, stderr.String(), tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the program did not stop")
			}
			checkNoLeak(t, stderr.String(), nil, canaryKey)
		})
	}
}

// TestUnsolicitedBytesDoNotLeakTheKey: after a valid answer the API sends,
// on the kept-alive connection, bytes that echo the key. Go's transport
// reports them through the standard log package, which the exporter's
// redaction must cover like its own lines. The real binary runs, so that
// what it writes to stderr is what a user's log holds.
func TestUnsolicitedBytesDoNotLeakTheKey(t *testing.T) {
	for _, key := range hostileKeys {
		t.Run(key[:6], func(t *testing.T) {
			const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1}}`
			srv := hostileapi.New(t, reply("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\nX-Leak: KEY\r\nX-Pad: %s\r\n\r\n",
				len(body), body, strings.Repeat("p", 20_000)))
			p := startBinary(t, []string{"SUNOR_API_KEY=" + key}, "--sunor.url="+srv.URL, "--no-collector.usage", "--sunor.max-calls-per-minute=0")
			addr := listeningRE.FindStringSubmatch(p.Out.String())[1]
			fetchPage(t, "http://"+addr+"/metrics")
			p.Out.WaitFor(t, regexp.MustCompile(`Unsolicited response`), 20*time.Second)
			p.Signal(t, syscall.SIGTERM)
			if code := p.Wait(t, 20*time.Second); code != 0 {
				t.Errorf("exit status %d", code)
			}
			checkNoLeak(t, p.Out.String(), nil, key)
		})
	}
}

// TestSwitchingProtocolsHoldsNoSlot: an API that answers 101 and keeps the
// connection must not keep the calls' --sunor.max-concurrent-calls slots:
// every scrape reaches the API again.
func TestSwitchingProtocolsHoldsNoSlot(t *testing.T) {
	srv := hostileapi.New(t, func(*http.Request, string) hostileapi.Reply {
		return hostileapi.Reply{Raw: []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"), Hang: true}
	})
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+srv.URL, "--sunor.timeout=300ms", "--sunor.max-calls-per-minute=0", "--sunor.max-concurrent-calls=2")
	const scrapes = 3
	for range scrapes {
		m := parseMetrics(t, fetchPage(t, e.url+"/metrics"))
		if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"endpoint": "balance", "reason": "http_status"}); v == 0 {
			t.Errorf("a 101 was not counted as http_status")
		}
	}
	if n := srv.Requests(); n != 2*scrapes {
		t.Errorf("the API saw %d calls in %d scrapes of two endpoints, want %d: slots were held", n, scrapes, 2*scrapes)
	}
	e.stop()
	checkNoLeak(t, e.log.String(), nil, canaryKey)
}

// TestWrongBasePathLogsThePath: --sunor.url with the API's path already on
// it doubles the path; the failure's log line shows the path called.
func TestWrongBasePathLogsThePath(t *testing.T) {
	srv := hostileapi.New(t, errorBody(404, "not found"))
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+srv.URL+"/api/v1", "--no-collector.usage", "--sunor.max-calls-per-minute=0")
	fetchPage(t, e.url+"/metrics")
	e.stop()
	if !strings.Contains(e.log.String(), "path=/api/v1/api/v1/account/balance") {
		t.Errorf("the failure's log line does not show the path called:\n%s", e.log)
	}
}

// TestReloadRefusesCrossSite: a web page the operator visits must not be
// able to make their browser reload the exporter (a form or fetch POST to
// http://localhost:10151/-/reload). Browsers mark such a request with
// Sec-Fetch-Site or an Origin of another host; curl -X POST sends neither
// and still reloads.
func TestReloadRefusesCrossSite(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url)
	post := func(header ...string) int {
		t.Helper()
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}} // what a form sends
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		code, _, err := testtool.Request(context.Background(), http.MethodPost, e.url+"/-/reload", h)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
	} {
		if code := post(h...); code != http.StatusForbidden {
			t.Errorf("POST /-/reload with %s: %s: status %d, want 403", h[0], h[1], code)
		}
	}
	if n := strings.Count(e.log.String(), "nothing to reload"); n != 0 {
		t.Errorf("%d cross-site requests reloaded", n)
	}
	for _, h := range [][]string{nil, {"Sec-Fetch-Site", "same-origin"}, {"Sec-Fetch-Site", "none"}} {
		if code := post(h...); code != http.StatusOK {
			t.Errorf("POST /-/reload with %v: status %d, want 200", h, code)
		}
	}
}

// TestRequestsTotalCountsRetries: an API that closes a kept connection
// after reading a request makes Go's transport send it again; the
// requests counter the user sees is what the API read.
func TestRequestsTotalCountsRetries(t *testing.T) {
	const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1,"tasks_created":1,"credits_used":1,"credits_topped_up":1}}`
	srv := hostileapi.New(t, hostileapi.OneAnswerPerConnection(body))
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+srv.URL, "--sunor.max-calls-per-minute=0")
	var total float64
	for range 10 {
		m := parseMetrics(t, fetchPage(t, e.url+"/metrics"))
		total = 0
		for _, ep := range []string{"balance", "usage"} {
			v, _ := sample(t, m, "sunor_api_requests_total", map[string]string{"endpoint": ep})
			total += v
		}
	}
	if seen := srv.Requests(); float64(seen) != total || seen <= 20 {
		t.Errorf("the API read %d requests in 10 scrapes of two endpoints, sunor_api_requests_total says %v (want equal, and retries above 20)", seen, total)
	}
}

// TestEveryLoggerIsRedacted: what the standard library and dependencies
// log by themselves (the log package, slog's default logger, an
// http.Server's nil ErrorLog) goes through the redaction of the keys in
// use and the bound on a line, as the exporter's own lines do.
func TestEveryLoggerIsRedacted(t *testing.T) {
	redact.Known.Add(canaryKey)
	var buf bytes.Buffer
	safe, restore := installSafeLogging(&buf)
	log.Printf("stdlib: %q", "X-Leak: "+canaryKey+"\r\n")
	slog.Default().Error("slog default", "header", canaryKey)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.WriteHeader(500) // makes http.Server log "superfluous response.WriteHeader call"
	}))
	srv.Start()
	resp, err := http.Get(srv.URL + "/" + canaryKey)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	log.Print(strings.Repeat("x", 10_000))
	restore()
	if safe == io.Writer(&buf) {
		t.Fatal("the writer was not wrapped")
	}
	out := buf.String()
	for _, want := range []string{"stdlib:", "slog default", "superfluous"} {
		if !strings.Contains(out, want) {
			t.Errorf("no line holding %q went through the safe writer:\n%.2000s", want, out)
		}
	}
	checkNoLeak(t, out, nil, canaryKey)
}
