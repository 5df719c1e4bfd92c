package status

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// ScreenshotEnv names a file the browser test copies its screenshot to, for
// CI to keep (.ci/run sets it) and for docs/status-page.png.
const ScreenshotEnv = "SUNOR_STATUS_SCREENSHOT"

// chromium returns a headless Chromium: Debian's chromium, else the names
// other systems give it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return testtool.Path(t, "chromium", "chromium")
}

// runBrowser runs chromium headless on url with args, within a minute, and
// returns its standard output.
func runBrowser(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestBrowserShowsEveryState loads the status page of an exporter with an
// account in each state, against the fake API, in a real browser: the DOM
// it builds has every row in the order trouble first, each state in words,
// and no key; the screenshot is a PNG.
func TestBrowserShowsEveryState(t *testing.T) {
	bin := chromium(t)
	d := newDemo(t)
	mux := http.NewServeMux()
	mux.Handle("/", d.page)
	mux.Handle("/probe", d.probe)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	dom := string(runBrowser(t, bin, srv.URL+"/", "--dump-dom"))
	if !strings.Contains(dom, "<title>Sunor Exporter status</title>") {
		t.Fatalf("the browser did not render the page:\n%.2000s", dom)
	}
	last := -1
	for _, w := range []struct{ account, state string }{
		{"down-video", "down: unauthorized"},
		{"paused-shop", "paused: Retry-After until 12:06:30"},
		{"empty-video", "exhausted"},
		{"low-music", "low"},
		{"stale-shop", "stale"},
		{"waiting", "waiting for first answer"},
		{"ok-music", "ok"},
	} {
		i := strings.Index(dom, `data-account="`+w.account+`" data-state="`+w.state+`"`)
		if i < 0 || i < last {
			t.Errorf("row %s (%s) at %d, after %d: missing or out of order", w.account, w.state, i, last)
		}
		last = i
		if !strings.Contains(dom, `<span class="state s-`+strings.ReplaceAll(strings.Fields(w.state)[0], ":", "")) {
			t.Errorf("no state badge for %q", w.state)
		}
	}
	for _, s := range []string{">down: unauthorized<", ">paused: Retry-After until 12:06:30<", ">waiting for first answer<", "Recent calls", "key &lt;redacted&gt; is not valid"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the page in the browser lacks %q", s)
		}
	}
	checkNoKey(t, dom)

	shot := filepath.Join(t.TempDir(), "status-page.png")
	runBrowser(t, bin, srv.URL+"/", "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 20_000 {
		t.Fatalf("no screenshot, or not a PNG of a page (%d bytes): %v", len(png), err)
	}
	if to := os.Getenv(ScreenshotEnv); to != "" {
		if err := os.WriteFile(to, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the status page: %s", to)
	}
}
