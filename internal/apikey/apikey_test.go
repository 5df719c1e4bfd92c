package apikey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

func TestNewFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"missing":   {filepath.Join(dir, "nope"), "no such file"},
		"empty":     {write("empty", " \n\t\n"), "is empty"},
		"two lines": {write("two", "secret-one\nsecret-two\n"), "more than one line"},
		"directory": {dir, "is a directory"},
	} {
		_, err := NewFile(tc.path, log.NewNopLogger())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want one naming %s and saying %q", name, err, tc.path, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error text shows the key: %v", name, err)
		}
	}
	if _, err := NewFile(filepath.Join(dir, "empty"), log.NewNopLogger()); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: err = %v, want ErrEmpty", err)
	}
}

func TestNewFileTrims(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte("  abc123 \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(p, log.NewNopLogger())
	if err != nil || f.Key() != "abc123" {
		t.Fatalf("Key() = %q, %v; want abc123", f.Key(), err)
	}
}

func TestFromEnv(t *testing.T) {
	if _, err := FromEnv("SUNOR_API_KEY", "  "); err == nil || !strings.Contains(err.Error(), "SUNOR_API_KEY") {
		t.Errorf("blank env: err = %v, want one naming the variable", err)
	}
	if k, err := FromEnv("SUNOR_API_KEY", " k \n"); err != nil || k.Key() != "k" {
		t.Errorf("FromEnv = %q, %v", k, err)
	}
}
