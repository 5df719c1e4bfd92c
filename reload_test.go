package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

// putKey writes key into path as a rotation does: elsewhere first, then a
// rename, so that a key directory never lists a half-written file.
func putKey(t *testing.T, path, key string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestKeyDirectoryChangeRetried: a change of the key directory seen while
// a reload fails (another account's key file missing for a moment) is
// applied once the reload can succeed, at a later poll, with no signal:
// the removed key is no longer called and the added one is served.
// Before, the change was taken as seen and never applied until SIGHUP.
func TestKeyDirectoryChangeRetried(t *testing.T) {
	fake, url := fakeAPI(t, "key-other")
	fake.SetAccount("key-a", fakesunor.Account{Available: 1})
	fake.SetAccount("key-b", fakesunor.Account{Available: 2})
	root := t.TempDir()
	dir := filepath.Join(root, "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(root, "other")
	putKey(t, other, "key-other")
	putKey(t, filepath.Join(dir, "a"), "key-a")
	cfg := filepath.Join(root, "sunor.yml")
	putKey(t, cfg, "api_key_directory: "+dir+"\naccounts:\n  - {name: other, api_key_file: "+other+"}")
	every := keyDirEvery
	keyDirEvery = 50 * time.Millisecond
	t.Cleanup(func() { keyDirEvery = every })
	e := start(t, "--sunor.url="+url, "--config.file="+cfg)
	defer e.stop()

	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	putKey(t, filepath.Join(dir, "b"), "key-b")
	e.log.WaitFor(t, regexp.MustCompile(`Config reload rejected`), 10*time.Second)
	putKey(t, other, "key-other")
	e.log.WaitFor(t, regexp.MustCompile(`msg="Config reloaded".* accounts=2\b`), 10*time.Second)
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	for acct, want := range map[string]bool{"other": true, "a": false, "b": true} {
		if _, ok := sample(t, m, "sunor_credits_available", map[string]string{"account": acct}); ok != want {
			t.Errorf("account %s exported: %v, want %v", acct, ok, want)
		}
	}
}
