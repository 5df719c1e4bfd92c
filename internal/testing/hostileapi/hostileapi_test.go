package hostileapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestExactBytes: what the handler returns is what the client reads, byte
// for byte, and the handler sees the request's key.
func TestExactBytes(t *testing.T) {
	const raw = "HTTP/1.1 299 Odd\r\nX-Echo:  two  spaces \r\n\r\nbody without length"
	s := New(t, func(req *http.Request, key string) Reply {
		if key != "the-key" || req.URL.Path != "/p" {
			return Reply{Raw: []byte("HTTP/1.1 400 Bad\r\n\r\n")}
		}
		return Reply{Raw: []byte(raw)}
	})
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /p HTTP/1.1\r\nHost: x\r\nX-Api-Key: the-key\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != raw {
		t.Fatalf("read %q, %v; want %q then EOF", got, err, raw)
	}
	if n := s.Requests(); n != 1 {
		t.Errorf("Requests() = %d, want 1", n)
	}
}

// TestHangEndsOnClose: a hanging reply holds the connection until the
// client gives up, and Close does not wait for the client.
func TestHangEndsOnClose(t *testing.T) {
	s := New(t, func(*http.Request, string) Reply {
		return Reply{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"), Hang: true}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("reading a hanging body: %v, want the deadline", err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the hanging reply")
	}
}

// TestTrickle: a trickled reply arrives whole, and no faster than one byte
// per pause.
func TestTrickle(t *testing.T) {
	const raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	const pause = 2 * time.Millisecond
	s := New(t, func(*http.Request, string) Reply {
		return Reply{Raw: []byte(raw), Trickle: pause}
	})
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != raw {
		t.Fatalf("read %q, %v; want %q then EOF", got, err, raw)
	}
	if min := time.Duration(len(raw)-1) * pause; time.Since(start) < min {
		t.Errorf("reply arrived in %v, faster than one byte per %v (%v)", time.Since(start), pause, min)
	}
}
