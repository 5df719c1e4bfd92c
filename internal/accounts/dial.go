package accounts

import (
	"context"
	"net"
	"sync"
)

// connLimiter caps the connections one transport has open at once, idle
// ones included. The cap on calls in flight alone does not: when a scrape's
// deadline abandons calls, a queued call can take a freed slot and dial
// while the abandoned call's connection is still closing, and the
// transport's MaxConnsPerHost is out of reach behind prometheus/common's
// client. A dial waits, within its request's context, until a connection
// of this transport has closed; the transport hands an idle connection to
// a waiting request meanwhile, so a busy pool keeps working.
type connLimiter struct {
	slots  chan struct{}
	dialer net.Dialer
}

func newConnLimiter(n int) *connLimiter {
	return &connLimiter{slots: make(chan struct{}, n)}
}

// DialContext is a commoncfg.DialContextFunc.
func (l *connLimiter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c, err := l.dialer.DialContext(ctx, network, addr)
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
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
