package accounts

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// TestConnectionsNeverAboveTheCap: however many requests run at once, the
// API sees at most the cap's connections open, and every request is served.
func TestConnectionsNeverAboveTheCap(t *testing.T) {
	const limit = 3
	var (
		mu         sync.Mutex
		open, peak int
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(5 * time.Millisecond) // a slow API: requests overlap
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open++
			peak = max(peak, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	srv.Start()
	defer srv.Close()

	c, err := NewHTTPClient(commoncfg.DefaultHTTPClientConfig, "test", limit)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a request failed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > limit {
		t.Errorf("%d connections open at once, the cap is %d", peak, limit)
	}
}

// TestDialWaitsWithinItsContext: a dial that finds every slot taken gives
// up when its request's context ends.
func TestDialWaitsWithinItsContext(t *testing.T) {
	l := newConnLimiter(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := l.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.DialContext(ctx, "tcp", ln.Addr().String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second dial with the only slot taken: %v, want the context's deadline", err)
	}
	c.Close()
	c.Close() // a second Close must not free a second slot
	c2, err := l.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after the slot was freed: %v", err)
	}
	defer c2.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := l.DialContext(ctx2, "tcp", ln.Addr().String()); err == nil {
		t.Error("a double Close freed two slots")
	}
}

// TestSlowHostDoesNotStarveAnother: accounts with equal settings share one
// client across hosts. A slow host that holds every connection the cap
// allows it must not keep a call to another host from being made.
func TestSlowHostDoesNotStarveAnother(t *testing.T) {
	const limit = 2
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handlers
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer fast.Close()

	c, err := NewHTTPClient(commoncfg.DefaultHTTPClientConfig, "test", limit)
	if err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context, url string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	slowCtx, cancelSlow := context.WithCancel(context.Background())
	defer cancelSlow()
	for range 2 * limit { // the cap's worth in the handler, as many waiting to dial
		go func() { _ = get(slowCtx, slow.URL) }()
	}
	for range limit {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow host's requests did not arrive")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := get(ctx, fast.URL); err != nil {
		t.Errorf("a call to another host while the slow host holds every connection: %v", err)
	}
}

// TestLimiterForgetsUnusedAddresses: an address whose connections have all
// closed, and whose dials have all ended, takes no memory.
func TestLimiterForgetsUnusedAddresses(t *testing.T) {
	l := newConnLimiter(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := l.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _ = l.DialContext(ctx, "tcp", ln.Addr().String()) // gives up waiting
	_, _ = l.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	c.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.addrs) != 0 {
		t.Errorf("the limiter still holds %d addresses", len(l.addrs))
	}
}
