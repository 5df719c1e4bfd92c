// Package hostileapi is a fake HTTP server for tests that answers with
// exactly the bytes a test gives it: a malformed status line, a header
// that echoes the key, a 5 MiB Location, a body that stops halfway. A real
// server library would refuse to write most of these, which is why this one
// sits on a bare net.Listener.
//
// Each connection carries one request and one reply, then closes (unless
// the reply hangs, or asks to keep the connection), so a test never
// depends on how the client reuses connections unless it means to.
package hostileapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Reply is what the server does with one request.
type Reply struct {
	// Raw is written to the connection as it is: status line, headers and
	// body. A Raw that ends early (a body shorter than its Content-Length)
	// is a connection closed early.
	Raw []byte
	// Trickle, when set, writes Raw one byte at a time with this pause
	// between bytes: a server that is slow but never silent for long.
	Trickle time.Duration
	// Hang keeps the connection open after Raw, without writing more,
	// until the server is closed or the client hangs up: a server that
	// stops answering.
	Hang bool
	// KeepAlive reads the next request on the connection after Raw and
	// answers it as well, as a keep-alive server does. An empty Raw then
	// is a server that closes a kept connection without answering.
	KeepAlive bool
}

// Handler answers one request. key is its x-api-key header; the request's
// RemoteAddr tells connections apart. It runs on the server's goroutine,
// so it must not call t.Fatal.
type Handler func(req *http.Request, key string) Reply

// OneAnswerPerConnection answers the first request of each connection
// with a 200 and body, keeping the connection, and closes the connection
// unanswered on any later request: what makes Go's transport send a
// request again by itself on a new connection.
func OneAnswerPerConnection(body string) Handler {
	var mu sync.Mutex
	perConn := map[string]int{}
	return func(req *http.Request, _ string) Reply {
		mu.Lock()
		defer mu.Unlock()
		if perConn[req.RemoteAddr]++; perConn[req.RemoteAddr] > 1 {
			return Reply{} // a kept connection closed, unanswered
		}
		return Reply{Raw: fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), KeepAlive: true}
	}
}

// Server is a listening fake. Its zero value is not usable; see New.
type Server struct {
	URL string // http://127.0.0.1:port, no trailing slash

	ln      net.Listener
	handler Handler
	done    chan struct{} // closed by Close: ends hangs and trickles
	wg      sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	requests int
}

// New starts a server on loopback that answers every request with h, and
// closes it when the test ends.
func New(t testing.TB, h Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hostileapi: %v", err)
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(), ln: ln, handler: h,
		done: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Requests returns how many requests the server has read.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Open returns how many connections are open: a client that leaks them
// keeps this above 0.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the server, ends hanging and trickling replies, closes every
// connection and waits for the server's goroutines. It may be called more
// than once.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	var r Reply
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.RemoteAddr = c.RemoteAddr().String()
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		r = s.handler(req, req.Header.Get("X-Api-Key"))
		if !s.write(c, r) {
			return
		}
		if !r.KeepAlive || len(r.Raw) == 0 || r.Hang {
			break
		}
	}
	if r.Hang {
		// Whatever the client sends is read and dropped, so that its
		// hanging up (the read's end) is seen.
		gone := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, br)
			close(gone)
		}()
		select {
		case <-s.done:
		case <-gone:
		}
	}
}

// write writes r.Raw, trickling it if asked; false when the connection or
// the server ended first.
func (s *Server) write(c net.Conn, r Reply) bool {
	if r.Trickle <= 0 {
		_, err := c.Write(r.Raw)
		return err == nil
	}
	t := time.NewTicker(r.Trickle)
	defer t.Stop()
	for i := range r.Raw {
		if _, err := c.Write(r.Raw[i : i+1]); err != nil {
			return false
		}
		select {
		case <-t.C:
		case <-s.done:
			return false
		}
	}
	return true
}
