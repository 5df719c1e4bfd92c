package testtool

import (
	"bytes"
	"strings"
	"sync"
)

// LogBuffer is a log sink that goroutines may write to while a test reads
// it: pass it to log.NewLogfmtLogger.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is how many times s was written so far.
func (b *LogBuffer) Count(s string) int { return strings.Count(b.String(), s) }
