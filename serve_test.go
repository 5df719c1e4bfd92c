package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
)

// smallSendBuffer accepts connections with a small send buffer, so that an
// answer of a few hundred kilobytes fills it when the client does not read.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// TestSDCountsInMaxRequests: /sd is capped by --web.max-requests as
// /metrics and /probe are: while a client that does not read holds the
// only slot, another request gets 503; once it is gone, /sd answers again.
// Before, /sd had no cap at all.
func TestSDCountsInMaxRequests(t *testing.T) {
	accts := make([]accounts.Account, 3000)
	for i := range accts {
		accts[i] = accounts.Account{Account: config.Account{Name: fmt.Sprintf("account-%04d", i), Timeout: time.Second, Labels: map[string]string{"team": "music", "owner": fmt.Sprintf("owner-%04d", i)}}, API: instantAPI{}}
	}
	f := flags{timeoutOffset: 500 * time.Millisecond, maxRequests: 1, metricsPath: "/metrics"}
	mux := scrapeMux(f, collector.New(accts, collector.Options{}), ownRegistry(f), slog.New(slog.DiscardHandler))
	done := make(chan struct{}, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mux.ServeHTTP(w, r)
	}))
	srv.Listener = smallSendBuffer{srv.Listener}
	srv.Start()
	defer srv.Close()

	get := func() int {
		resp, err := http.Get(srv.URL + "/sd")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	adversary, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = adversary.(*net.TCPConn).SetReadBuffer(8 << 10)
	if _, err := fmt.Fprint(adversary, "GET /sd HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("/sd while another request holds the only slot: %d, want 503", code)
	}
	<-done // the 503
	adversary.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("/sd still writing 10 s after its client hung up")
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("/sd once the slot is free: %d, want 200", code)
	}
}

// TestReloadRefusesDNSRebinding: a page on a name that its owner then
// points at the exporter's address (DNS rebinding) is "same origin" to the
// browser, so the cross-site check let it reload. A browser's request is
// now taken only at an IP address or localhost; curl and reloaders, which
// send neither Origin nor Sec-Fetch-Site, reload at any name (a Kubernetes
// Service's, say).
func TestReloadRefusesDNSRebinding(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.url, "http://"))
	post := func(host string, browser bool) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.url+"/-/reload", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host + ":" + port
		if browser {
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("Origin", "http://"+req.Host)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		host    string
		browser bool
		want    int
	}{
		{"rebind.example", true, http.StatusForbidden},
		{"sunor-exporter.monitoring.svc", true, http.StatusForbidden},
		{"rebind.example", false, http.StatusOK}, // curl at a name
		{"localhost", true, http.StatusOK},
		{"127.0.0.1", true, http.StatusOK},
		{"[::1]", true, http.StatusOK},
	} {
		if got := post(tc.host, tc.browser); got != tc.want {
			t.Errorf("POST /-/reload at %s (browser %v): %d, want %d", tc.host, tc.browser, got, tc.want)
		}
	}
}
