package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/accounts"
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
		accts[i] = accounts.Account{Name: fmt.Sprintf("account-%04d", i), API: instantAPI{}, Timeout: time.Second,
			Labels: map[string]string{"team": "music", "owner": fmt.Sprintf("owner-%04d", i)}}
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
