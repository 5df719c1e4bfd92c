//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamedPipeAsAccountsFile: a named pipe with no writer in place of the
// accounts file is refused at once; reading it would block the start, or a
// reload and with it every later one and the key directory's, for ever.
func TestNamedPipeAsAccountsFile(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	fifo := filepath.Join(t.TempDir(), "sunor.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := Accounts(fifo, "", flags()); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a named pipe, not a regular file") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accounts has not returned after 10s: it waits on the named pipe")
	}
}
