package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/keydir"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// manyAccounts writes an accounts file of n accounts acct-1 … acct-n with
// the load script's keys, key-1 … key-n, in the environment.
func manyAccounts(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("accounts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: acct-%d\n    api_key_env: SUNOR_MANY_%d\n", i, i)
		t.Setenv(fmt.Sprintf("SUNOR_MANY_%d", i), fmt.Sprintf("key-%d", i))
	}
	cfg := filepath.Join(t.TempDir(), "many.yml")
	if err := os.WriteFile(cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStartupLogInProportion: 10 000 accounts start with a handful of
// lines at info, one of them for all the accounts (count, source, the
// first names), and --config.check prints at most 20 names.
func TestStartupLogInProportion(t *testing.T) {
	const n = 10_000
	cfg := manyAccounts(t, n)

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config.file=" + cfg, "--sunor.url=http://127.0.0.1:1", "--config.check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--config.check: exit %d\n%s", code, stderr.String())
	}
	want := "OK: 10000 account(s): acct-1, acct-2, acct-3, acct-4, acct-5, acct-6, acct-7, acct-8, acct-9, acct-10, acct-11, acct-12, acct-13, acct-14, acct-15, acct-16, acct-17, acct-18, acct-19, acct-20 and 9980 more\n"
	if stdout.String() != want {
		t.Errorf("--config.check printed %d bytes: %.300q, want %q", stdout.Len(), stdout.String(), want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	logs := &testtool.Lines{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config.file=" + cfg, "--sunor.url=http://127.0.0.1:1", "--web.listen-address=127.0.0.1:0"}, &stdout, logs)
		logs.Close()
	}()
	accountsRE := regexp.MustCompile(`msg="Exporting Sunor accounts" count=10000 sources="accounts file ` + regexp.QuoteMeta(cfg) + `: 10000" accounts="acct-1, acct-2, acct-3, acct-4, acct-5 and 9995 more"`)
	// Serving begins before the accounts' line: either may come first.
	_, err := logs.Next(listeningRE, time.Minute)
	if err == nil && !accountsRE.MatchString(logs.String()) {
		_, err = logs.Next(accountsRE, time.Minute)
	}
	if err != nil {
		cancel()
		t.Fatalf("%.3000v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the exporter did not stop within 30 s")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	// Starting, the accounts, listening, TLS disabled, shutting down, stopped.
	if len(lines) > 6 {
		t.Errorf("%d lines at info, want at most 6:\n%.2000s", len(lines), logs)
	}
}

// TestStartupSources: the accounts' line says how many come from the file,
// the key directory or the flags.
func TestStartupSources(t *testing.T) {
	accts := []accounts.Account{{Account: config.Account{Name: "a", APIKeyEnv: "K"}}, {Account: config.Account{Name: "b", APIKeyFile: "/keys/b"}}, {Account: config.Account{Name: "c", APIKeyFile: "/keys/c"}}}
	entries := []keydir.Entry{{Name: "b", Path: "/keys/b"}, {Name: "c", Path: "/keys/c"}}
	for _, tc := range []struct{ file, dir, want string }{
		{"s.yml", "/keys", "accounts file s.yml: 1, key directory /keys: 2"},
		{"", "", "flags: 3"},
		{"s.yml", "", "accounts file s.yml: 3"},
	} {
		e := entries
		if tc.dir == "" {
			e = nil
		}
		if got := sources(accts, tc.file, tc.dir, e); got != tc.want {
			t.Errorf("sources(file %q, dir %q) = %q, want %q", tc.file, tc.dir, got, tc.want)
		}
	}
	if got := firstNames(accts, 2); got != "a, b and 1 more" {
		t.Errorf("firstNames = %q", got)
	}
}
