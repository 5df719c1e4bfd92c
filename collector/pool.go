package collector

import "sync"

// pool runs the API calls of every account on at most size goroutines
// (--sunor.max-concurrent-calls). A call beyond that waits in a queue, as
// a closure rather than a goroutine of its own, balance calls first: the
// balance is the product, the other endpoints are optional.
type pool struct {
	size int

	mu      sync.Mutex
	running int
	queue   [2][]func(queued bool) // [0]: balance calls, [1]: the rest
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
	p.queue[i] = append(p.queue[i], call)
	return false
}

// work runs call, then queued calls until none is left.
func (p *pool) work(call func(queued bool)) {
	call(false)
	for {
		if call = p.next(); call == nil {
			return
		}
		call(true)
	}
}

// next takes the first queued call, or gives the slot back.
func (p *pool) next() func(queued bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, q := range p.queue {
		if len(q) > 0 {
			call := q[0]
			q[0] = nil
			p.queue[i] = q[1:]
			return call
		}
	}
	p.running--
	return nil
}
