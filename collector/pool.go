package collector

import (
	"sync"
	"time"
)

// UsageTurn is the longest a queued call of an optional endpoint (usage)
// waits behind balance calls: once it has waited that long, it goes before
// them at the next free slot. Balances first keeps the product fresh, but
// with enough accounts the balances alone keep the queue full, and usage
// was never refreshed; its last answer is shown for at most MaxStale, so a
// turn within that keeps its series.
const UsageTurn = 2 * time.Minute

// pool runs the API calls of every account on at most size goroutines
// (--sunor.max-concurrent-calls). A call beyond that waits in a queue, as
// a closure rather than a goroutine of its own, balance calls first: the
// balance is the product, the other endpoints are optional, but one that
// has waited UsageTurn goes first.
type pool struct {
	size int
	now  func() time.Time

	mu      sync.Mutex
	running int
	queue   [2][]queuedCall // [0]: balance calls, [1]: the rest
}

type queuedCall struct {
	call func(queued bool)
	at   time.Time // when it was queued
}

// submit runs call now if a slot is free, else queues it, and reports
// whether it started now. call's argument says whether it waited in the
// queue. A nil pool has no cap.
func (p *pool) submit(balance bool, call func(queued bool)) (started bool) {
	if p == nil {
		go call(false)
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running < p.size {
		p.running++
		go p.work(call)
		return true
	}
	i := 1
	if balance {
		i = 0
	}
	p.queue[i] = append(p.queue[i], queuedCall{call: call, at: p.now()})
	return false
}

// work runs call, then queued calls until none is left.
func (p *pool) work(call func(queued bool)) {
	for queued := false; call != nil; call, queued = p.next(), true {
		call(queued)
	}
}

// next takes the first queued call, balance calls first unless the
// longest-waiting other call has had its turn coming, or gives the slot
// back.
func (p *pool) next() func(queued bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	order := [2]int{0, 1}
	if q := p.queue[1]; len(q) > 0 && p.now().Sub(q[0].at) >= UsageTurn {
		order = [2]int{1, 0}
	}
	for _, i := range order {
		if q := p.queue[i]; len(q) > 0 {
			call := q[0].call
			q[0] = queuedCall{}
			p.queue[i] = q[1:]
			return call
		}
	}
	p.running--
	return nil
}
