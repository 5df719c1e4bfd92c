package accounts

import (
	"context"
	"net"
	"sync"
)

// connLimiter caps the connections one transport has open at once to each
// dial address (a host and port, or a proxy's), idle ones included. The
// cap on calls in flight alone does not: when a scrape's deadline abandons
// calls, a queued call can take a freed slot and dial while the abandoned
// call's connection is still closing, and the transport's MaxConnsPerHost
// is out of reach behind prometheus/common's client. A dial waits, within
// its request's context, until a connection of this transport to the same
// address has closed; the transport hands an idle connection to a waiting
// request meanwhile, so a busy pool keeps working. The cap is per address
// because accounts with equal HTTP settings share a transport across
// hosts: a slow host that holds all its connections must not keep another
// host's calls from dialing.
type connLimiter struct {
	n      int
	dialer net.Dialer

	mu    sync.Mutex
	addrs map[string]*addrSlots
}

// addrSlots are one address's slots. users counts the dials waiting for a
// slot and the connections holding one: at 0 the entry is dropped, so the
// map holds only addresses in use.
type addrSlots struct {
	slots chan struct{}
	users int
}

func newConnLimiter(n int) *connLimiter {
	return &connLimiter{n: n, addrs: map[string]*addrSlots{}}
}

func (l *connLimiter) join(addr string) *addrSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs[addr]
	if a == nil {
		a = &addrSlots{slots: make(chan struct{}, l.n)}
		l.addrs[addr] = a
	}
	a.users++
	return a
}

func (l *connLimiter) leave(addr string, a *addrSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.users--; a.users == 0 {
		delete(l.addrs, addr)
	}
}

// DialContext is a commoncfg.DialContextFunc.
func (l *connLimiter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	a := l.join(addr)
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		l.leave(addr, a)
		return nil, ctx.Err()
	}
	release := func() {
		<-a.slots
		l.leave(addr, a)
	}
	c, err := l.dialer.DialContext(ctx, network, addr)
	if err != nil {
		release()
		return nil, err
	}
	return &limitedConn{Conn: c, release: release}, nil
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
