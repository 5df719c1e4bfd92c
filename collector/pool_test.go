package collector

import (
	"testing"
	"time"
)

// TestPoolUsageTurn: a queued usage call that has waited UsageTurn goes
// before the balance calls queued meanwhile, so that balances that keep the
// queue full (thousands of accounts) do not keep usage from ever being
// refreshed; one that has waited less still lets the balances go first.
func TestPoolUsageTurn(t *testing.T) {
	for _, tc := range []struct {
		waited time.Duration
		want   []string
	}{
		{UsageTurn - time.Second, []string{"first", "balance-1", "balance-2", "usage"}},
		{UsageTurn, []string{"first", "usage", "balance-1", "balance-2"}},
	} {
		clk := newClock()
		p := &pool{size: 1, now: clk.Now}
		release := make(chan struct{})
		order := make(chan string, 4)
		p.submit(true, func(bool) { <-release; order <- "first" })
		p.submit(false, func(bool) { order <- "usage" })
		clk.Advance(tc.waited)
		p.submit(true, func(bool) { order <- "balance-1" })
		p.submit(true, func(bool) { order <- "balance-2" })
		close(release)
		for _, want := range tc.want {
			select {
			case got := <-order:
				if got != want {
					t.Errorf("usage queued %s before: ran %s, want %s (order %v)", tc.waited, got, want, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s never ran", want)
			}
		}
	}
}
