//go:build unix

package apikey

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-kit/log"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// TestNamedPipe: a named pipe in place of the key file, with no writer,
// would block a plain open forever. It is refused at start-up and, after a
// rotation, the last good key stays in use; neither waits for a writer.
func TestNamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newFileWithin(t, fifo); err == nil || !strings.Contains(err.Error(), "is a named pipe, not a regular file") {
		t.Errorf("NewFile on a named pipe: err = %v", err)
	}

	f := newKeyFile(t, "good-key")
	logs := &testtool.Lines{}
	k := f.open(log.NewLogfmtLogger(logs))
	f.replace(fifo)
	for range 3 {
		if got := key(t, k); got != "good-key" {
			t.Fatalf("Key() with a named pipe in place = %q, want good-key", got)
		}
	}
	if n := logs.Count("is a named pipe"); n != 1 {
		t.Errorf("%d warnings about the named pipe, want 1:\n%s", n, logs)
	}
}
