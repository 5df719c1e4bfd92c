package main

// Tests of --config.file: several accounts, --config.check, reload.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// twoAccounts sets up a fake knowing two keys, one in a file and one in an
// environment variable, and a config file naming both.
func twoAccounts(t *testing.T) (fake *fakesunor.Server, cfgPath, keyFile string) {
	t.Helper()
	fake, url := fakeAPI(t, "key-prod")
	fake.SetAccount("key-staging", fakesunor.Account{Available: 42, Frozen: 0, CreditsUsed: 8})
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "prod.key")
	os.WriteFile(keyFile, []byte("key-prod\n"), 0o600)
	t.Setenv("SUNOR_STAGING_KEY", "key-staging")
	t.Setenv("SUNOR_API_KEY", "")
	cfgPath = filepath.Join(dir, "sunor.yml")
	writeConfig(t, cfgPath, `accounts:
  - name: prod
    api_key_file: `+keyFile+`
    url: `+url+`
    daily_budget: 100
  - name: staging
    api_key_env: SUNOR_STAGING_KEY
    url: `+url+`
    timeout: 5s
`)
	return fake, cfgPath, keyFile
}

func TestConfigFileTwoAccounts(t *testing.T) {
	fake, cfg, _ := twoAccounts(t)
	e := start(t, "--config.file="+cfg)
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	for acct, want := range map[string]float64{"prod": 950, "staging": 42} {
		if v, ok := sample(t, m, "sunor_credits_available", map[string]string{"account": acct}); !ok || v != want {
			t.Errorf("%s: available %v (present %v), want %v", acct, v, ok, want)
		}
	}
	if v, _ := sample(t, m, "sunor_credits_used_total", map[string]string{"account": "staging"}); v != 8 {
		t.Errorf("staging: used %v, want 8", v)
	}
	if v, ok := sample(t, m, "sunor_config_last_reload_successful", nil); !ok || v != 1 {
		t.Errorf("sunor_config_last_reload_successful = %v (present %v), want 1", v, ok)
	}
	if _, ok := sample(t, m, "sunor_rate_limit_remaining", map[string]string{"account": "prod"}); !ok {
		t.Error("no rate-limit headroom for prod")
	}
	if fake.Requests("usage") != 2 || fake.Requests("balance") != 2 {
		t.Errorf("requests: %d balance, %d usage; want 2 and 2", fake.Requests("balance"), fake.Requests("usage"))
	}
	_, page := e.get(t, "/")
	if !strings.Contains(page, "<code>prod</code>") || !strings.Contains(page, "<code>staging</code>") {
		t.Error("the landing page does not list the accounts")
	}
	checkWithPromtool(t, body)
	e.stop()
	for _, key := range []string{"key-prod", "key-staging"} {
		if strings.Contains(body+page+e.log.String(), key) {
			t.Errorf("a key (%s) shows in /metrics, / or the log", key)
		}
	}
}

func TestNoConfigReloadMetricsWithoutConfigFile(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url)
	_, body := e.get(t, "/metrics")
	if strings.Contains(body, "sunor_config_") {
		t.Error("sunor_config_* present without --config.file")
	}
	// Nothing to reload is no failure: 200, saying so.
	code, msg := e.post(t, "/-/reload")
	if code != http.StatusOK || !strings.Contains(msg, "nothing to reload") {
		t.Errorf("POST /-/reload without a config file: %d %q, want 200 saying there is nothing to reload", code, msg)
	}
}

func TestUsageCollectorOff(t *testing.T) {
	fake, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url, "--no-collector.usage")
	_, body := e.get(t, "/metrics")
	if fake.Requests("usage") != 0 || strings.Contains(body, "sunor_credits_used_total") || strings.Contains(body, `endpoint="usage"`) {
		t.Errorf("usage called (%d) or exposed with --no-collector.usage", fake.Requests("usage"))
	}
}

func TestConfigCheck(t *testing.T) {
	_, cfg, keyFile := twoAccounts(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config.file=" + cfg, "--config.check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--config.check of a good file: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "OK: 2 account(s): prod, staging") {
		t.Errorf("stdout %q", stdout.String())
	}
	dir := filepath.Dir(cfg)
	for name, tc := range map[string]struct {
		yaml, want string
		env        map[string]string
	}{
		"unset key variable":  {"accounts:\n  - name: a\n    api_key_env: SUNOR_NOPE_KEY\n", "sunor.yml:3: accounts[0] (a): api_key_env: the environment variable it names is not set", nil},
		"unreadable key file": {"accounts:\n  - name: a\n    api_key_file: " + filepath.Join(dir, "nope") + "\n", "sunor.yml:3: accounts[0] (a): api_key_file:", nil},
		"empty key file":      {"accounts:\n  - name: a\n    api_key_file: " + filepath.Join(dir, "empty") + "\n", "is empty", nil},
		"duplicate names":     {"accounts:\n  - name: a\n    api_key_file: " + keyFile + "\n  - name: a\n    api_key_env: SUNOR_STAGING_KEY\n", `sunor.yml:4: accounts[1] (a): name: "a" is already the name of accounts[0]`, nil},
		"unknown field":       {"accounts:\n  - name: a\n    api_key_file: " + keyFile + "\n    apikey: x\n", `sunor.yml:4: accounts[0] (a): unknown field "apikey" (did you mean "api_key_env"?)`, nil},
		"bad url":             {"accounts:\n  - name: a\n    api_key_file: " + keyFile + "\n    url: ftp://x\n", "sunor.yml:4: accounts[0] (a): url:", nil},
		"missing CA":          {"accounts:\n  - name: a\n    api_key_file: " + keyFile + "\n    http_client_config:\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n", "accounts[0] (a): http_client_config:", nil},
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600)
			p := filepath.Join(t.TempDir(), "sunor.yml")
			writeConfig(t, p, tc.yaml)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--config.file=" + p, "--config.check"}, &stdout, &stderr)
			out := strings.TrimSpace(stderr.String())
			if code != 1 || !strings.Contains(strings.ReplaceAll(out, `\"`, `"`), tc.want) || strings.Count(out, "\n") != 0 {
				t.Errorf("exit %d, output %q; want 1 and one line containing %q", code, out, tc.want)
			}
			if strings.Contains(out, "key-prod") || strings.Contains(out, "key-staging") {
				t.Errorf("the error shows a key: %q", out)
			}
		})
	}
	// A key on the command line or in the environment, with a config file.
	t.Setenv("SUNOR_API_KEY", canaryKey)
	stderr.Reset()
	if code := run(context.Background(), []string{"--config.file=" + cfg}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "cannot be used with --config.file") {
		t.Errorf("SUNOR_API_KEY with --config.file: exit %d, %q", code, stderr.String())
	}
	if strings.Contains(stderr.String(), canaryKey) {
		t.Error("the error shows the key")
	}
}

// TestReload: a broken file is rejected and the accounts in force stay; a
// good one takes effect, keeping the unchanged account's counters.
func TestReload(t *testing.T) {
	fake, cfg, keyFile := twoAccounts(t)
	e := start(t, "--config.file="+cfg)
	fake.Update("key-staging", func(a *fakesunor.Account) { a.Fail = fakesunor.FailServerError })
	e.get(t, "/metrics") // staging counts one server_error
	fake.Update("key-staging", func(a *fakesunor.Account) { a.Fail = "" })

	good, _ := os.ReadFile(cfg)
	writeConfig(t, cfg, string(good)+"  - name: broken\n    api_key_env: SUNOR_NOT_SET_KEY\n")
	if code, body := e.post(t, "/-/reload"); code != 500 || !strings.Contains(body, "api_key_env: the environment variable it names is not set") {
		t.Errorf("reload of a broken file: %d %q, want 500 naming the problem", code, body)
	}
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	if v, _ := sample(t, m, "sunor_config_last_reload_successful", nil); v != 0 {
		t.Errorf("after a rejected reload: successful = %v, want 0", v)
	}
	if _, ok := sample(t, m, "sunor_api_up", map[string]string{"account": "broken"}); ok {
		t.Error("the rejected file's account is being exported")
	}
	if v, ok := sample(t, m, "sunor_api_up", map[string]string{"account": "staging"}); !ok || v != 1 {
		t.Error("the accounts in force were dropped by a rejected reload")
	}
	if !strings.Contains(e.log.String(), "Config reload rejected") {
		t.Error("no log line for the rejected reload")
	}

	// A key pasted into a field the error quotes (here prod's own, read
	// at start-up) is redacted in the answer as in the log line.
	const rotated = "rotated-0123456789"
	os.WriteFile(keyFile, []byte(rotated+"\n"), 0o600)
	writeConfig(t, cfg, string(good))
	if code, body := e.post(t, "/-/reload"); code != 200 { // builds with the new key
		t.Fatalf("reload: %d %q", code, body)
	}
	writeConfig(t, cfg, strings.Replace(string(good), "    timeout: 5s\n", "    timeout: "+rotated+"\n", 1))
	if code, body := e.post(t, "/-/reload"); code != 500 || strings.Contains(body, rotated[:10]) || !strings.Contains(body, "timeout: wants a duration such as 5s or 1m30s, got \"<redacted>\"") {
		t.Errorf("reload of a file quoting a key: %d %q, want 500 with the key redacted", code, body)
	}
	os.WriteFile(keyFile, []byte("key-prod\n"), 0o600)

	// Drop prod, keep staging unchanged, add a third account.
	writeConfig(t, cfg, strings.Replace(string(good), "  - name: prod\n    api_key_file: "+keyFile+"\n", "  - name: third\n    api_key_file: "+keyFile+"\n", 1))
	if code, body := e.post(t, "/-/reload"); code != 200 {
		t.Fatalf("reload of a good file: %d %q", code, body)
	}
	_, body = e.get(t, "/metrics")
	m = parseMetrics(t, body)
	if v, _ := sample(t, m, "sunor_config_last_reload_successful", nil); v != 1 {
		t.Errorf("successful = %v, want 1", v)
	}
	if _, ok := sample(t, m, "sunor_api_up", map[string]string{"account": "prod"}); ok {
		t.Error("a removed account is still exported")
	}
	if v, ok := sample(t, m, "sunor_credits_available", map[string]string{"account": "third"}); !ok || v != 950 {
		t.Errorf("the new account: available %v (present %v)", v, ok)
	}
	if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"account": "staging", "endpoint": "balance", "reason": "server_error"}); v != 1 {
		t.Errorf("staging's counter = %v after the reload, want 1 (kept)", v)
	}
	// The status page lists the accounts in force, at the next load.
	if got := statusAccounts(t, e); got != "[staging third]" {
		t.Errorf("the status page after the reload lists %s, want [staging third]", got)
	}
}

// statusAccounts returns the accounts the status page lists, sorted.
func statusAccounts(t *testing.T, e *exporter) string {
	t.Helper()
	_, body := e.get(t, "/status?format=json")
	var page struct {
		Accounts []struct{ Account string } `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("/status?format=json: %v\n%s", err, body)
	}
	var names []string
	for _, a := range page.Accounts {
		names = append(names, a.Account)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

// TestBinarySIGHUPReloads: SIGHUP reloads the file in the real binary.
func TestBinarySIGHUPReloads(t *testing.T) {
	_, cfg, keyFile := twoAccounts(t)
	p := startBinary(t, nil, "--config.file="+cfg)
	writeConfig(t, cfg, "accounts:\n  - name: only\n    api_key_file: "+keyFile+"\n")
	p.Signal(t, syscall.SIGHUP)
	p.Out.WaitFor(t, regexp.MustCompile(`msg="Config reloaded".* accounts=1\b`), 20*time.Second)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, p.Out)
	}
}

// TestExampleConfigFile: the shipped example passes --config.check once its
// keys exist, as a user would first run it.
func TestExampleConfigFile(t *testing.T) {
	b, err := os.ReadFile("deploy/config/sunor.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "sunor-prod")
	os.WriteFile(keyFile, []byte("example-key\n"), 0o600)
	p := filepath.Join(t.TempDir(), "sunor.yml")
	writeConfig(t, p, strings.Replace(string(b), "/run/secrets/sunor-prod", keyFile, 1))
	t.Setenv("SUNOR_STAGING_KEY", "example-staging-key")
	t.Setenv("SUNOR_API_KEY", "")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config.file=" + p, "--config.check"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "OK: 2 account(s): prod, staging") {
		t.Errorf("exit %d, %q %q", code, stdout.String(), stderr.String())
	}
}

// TestKeyDirectory: each key file of --sunor.api-key-directory is an
// account with the flags' settings; a file added or removed takes effect
// on its own, without a reload signal.
func TestKeyDirectory(t *testing.T) {
	fake, url := fakeAPI(t, "key-a")
	fake.SetAccount("key-b", fakesunor.Account{Available: 42})
	fake.SetAccount("key-c", fakesunor.Account{Available: 7})
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "a"), "key-a\n")
	writeConfig(t, filepath.Join(dir, "b"), "key-b\n")
	writeConfig(t, filepath.Join(dir, "bad name "), "key-c\n")
	t.Setenv("SUNOR_API_KEY", "")
	every := keyDirEvery
	keyDirEvery = 50 * time.Millisecond
	t.Cleanup(func() { keyDirEvery = every })
	e := start(t, "--sunor.url="+url, "--sunor.api-key-directory="+dir, "--sunor.low-credits-threshold=100")
	if !strings.Contains(e.log.String(), `skipping file \"bad name \"`) {
		t.Errorf("no warning for the file whose name is no account name:\n%s", e.log)
	}
	check := func(want map[string]float64) {
		t.Helper()
		_, body := e.get(t, "/metrics")
		m := parseMetrics(t, body)
		for _, acct := range []string{"a", "b", "c"} {
			v, ok := sample(t, m, "sunor_credits_available", map[string]string{"account": acct})
			if w, exported := want[acct]; ok != exported || v != w {
				t.Errorf("%s: available %v (exported %v), want %v (exported %v)", acct, v, ok, w, exported)
			}
		}
	}
	check(map[string]float64{"a": 950, "b": 42})
	writeConfig(t, filepath.Join(dir, "c"), "key-c\n")
	e.log.WaitFor(t, regexp.MustCompile(`msg="Config reloaded".* accounts=3\b`), 10*time.Second)
	check(map[string]float64{"a": 950, "b": 42, "c": 7})
	os.Remove(filepath.Join(dir, "a"))
	e.log.WaitFor(t, regexp.MustCompile(`msg="Config reloaded".* accounts=2\b`), 10*time.Second)
	check(map[string]float64{"b": 42, "c": 7})
	if got := statusAccounts(t, e); got != "[b c]" {
		t.Errorf("the status page after the key directory changed lists %s, want [b c]", got)
	}

	if strings.Contains(e.log.String(), "key-") {
		t.Error("a key shows in the log")
	}
}

// TestKeyDirectoryInTheFile: api_key_directory in the accounts file adds
// an account a key file, with the settings of defaults:.
func TestKeyDirectoryInTheFile(t *testing.T) {
	_, cfg, _ := twoAccounts(t)
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "third"), "key-prod\n")
	good, _ := os.ReadFile(cfg)
	writeConfig(t, cfg, "api_key_directory: "+dir+"\ndefaults: {timeout: 3s}\n"+string(good))
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config.file=" + cfg, "--config.check"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "OK: 3 account(s): prod, staging, third") {
		t.Errorf("exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	writeConfig(t, filepath.Join(dir, "prod"), "key-prod\n")
	stderr.Reset()
	if code := run(context.Background(), []string{"--config.file=" + cfg, "--config.check"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "sunor.yml:1: api_key_directory: key file "+filepath.Join(dir, "prod")) {
		t.Errorf("a key file named like an account of the file: exit %d, %q", code, stderr.String())
	}
}

// TestReloadAppliesPolicyAndKeepsState: a reload that changes only owner
// labels, threshold and budget, and adds a comment, applies them at once,
// and the account keeps its state (here, its error counter).
func TestReloadAppliesPolicyAndKeepsState(t *testing.T) {
	fake, cfg, _ := twoAccounts(t)
	e := start(t, "--config.file="+cfg, "--sunor.label=env=prod")
	fake.Update("key-staging", func(a *fakesunor.Account) { a.Fail = fakesunor.FailServerError })
	e.get(t, "/metrics")
	fake.Update("key-staging", func(a *fakesunor.Account) { a.Fail = "" })
	good, _ := os.ReadFile(cfg)
	writeConfig(t, cfg, "# owners added\n"+string(good)+"    labels: {team: music}\n    low_credits_threshold: 2000\n    daily_budget: 5000\n    task_cost: 5\n")
	if code, body := e.post(t, "/-/reload"); code != 200 {
		t.Fatalf("reload: %d %q", code, body)
	}
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	staging := map[string]string{"account": "staging", "team": "music", "env": "prod"}
	for name, want := range map[string]float64{"sunor_credits_low_threshold": 2000, "sunor_credits_daily_budget": 5000, "sunor_credits_task_cost": 5, "sunor_credits_available": 42} {
		if v, ok := sample(t, m, name, staging); !ok || v != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, staging, v, ok, want)
		}
	}
	if v, _ := sample(t, m, "sunor_credits_low_threshold", map[string]string{"account": "prod", "env": "prod"}); v != 500 {
		t.Errorf("prod's threshold = %v, want the flag's 500", v)
	}
	if v, _ := sample(t, m, "sunor_credits_task_cost", map[string]string{"account": "prod", "env": "prod"}); v != 10 {
		t.Errorf("prod's task cost = %v, want the flag's 10", v)
	}
	errs := map[string]string{"account": "staging", "endpoint": "balance", "reason": "server_error"}
	if v, _ := sample(t, m, "sunor_api_errors_total", errs); v != 1 {
		t.Errorf("staging's error counter = %v after the reload, want 1 (kept)", v)
	}
}

// TestPolicyFlags: single-account mode takes labels, threshold and budget
// from the flags.
func TestPolicyFlags(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url, "--sunor.label=team=music", "--sunor.label=env=prod", "--sunor.low-credits-threshold=100", "--sunor.daily-budget=10", "--sunor.task-cost=5")
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	for name, want := range map[string]float64{"sunor_credits_low_threshold": 100, "sunor_credits_daily_budget": 10, "sunor_credits_task_cost": 5, "sunor_api_up": 1} {
		if v, ok := sample(t, m, name, map[string]string{"account": "default", "team": "music", "env": "prod"}); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// TestConfigCheckRedactsPastedKeys: a key pasted into a field the error
// quotes is redacted by --config.check, though no key is in use yet. Each
// case has a key of its own: the set of keys redacted is process-wide.
func TestConfigCheckRedactsPastedKeys(t *testing.T) {
	dir := t.TempDir()
	for i, entry := range []string{"timeout: %s", "url: %s", "max_calls_per_minute: %s", "%s: 1", "http_client_config: {tls_config: {ca_file: %s}}", "labels: {%s: x}"} {
		key := fmt.Sprintf("sk-check-%d-%s", i, rand.Text())
		keyFile := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(keyFile, []byte(key), 0o600)
		cfg := filepath.Join(dir, fmt.Sprint(i)+".yml")
		writeConfig(t, cfg, "accounts:\n  - name: a\n    api_key_file: "+keyFile+"\n    "+fmt.Sprintf(entry, key)+"\n")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"--config.file=" + cfg, "--config.check"}, &stdout, &stderr)
		if out := stderr.String(); code != 1 || !strings.Contains(out, ".yml:4: accounts[0] (a): ") || strings.Contains(out, key[:12]) {
			t.Errorf("%s: exit %d, %q; want 1, naming line 4, without the key", entry, code, out)
		}
	}
}

// TestDocsListEveryField: docs/configuration.md's table of an account's
// fields names every field an entry takes and no other, says which of them
// defaults: takes, and names the flag of each; and every --sunor.* flag is
// a field's or says what it is set by.
func TestDocsListEveryField(t *testing.T) {
	entry, defaults := config.Fields()
	inDocs, inDefaults := map[string]bool{}, map[string]bool{}
	for _, row := range tableRows(section(t, "docs/configuration.md", "Fields of an account")) {
		field := strings.Trim(row[0], "`")
		inDocs[field] = true
		inDefaults[field] = row[1] == "yes"
		if flag := config.FlagOf(field); flag != "" && !strings.Contains(row[2], "`"+flag+"`") {
			t.Errorf("the row of %s names %s, not its flag %s", field, row[2], flag)
		}
	}
	for _, f := range entry {
		if !inDocs[f] {
			t.Errorf("docs/configuration.md lacks the field %s, which an entry takes", f)
		} else if inDefaults[f] != slices.Contains(defaults, f) {
			t.Errorf("docs/configuration.md says defaults: takes %s: %v; it does: %v", f, inDefaults[f], slices.Contains(defaults, f))
		}
	}
	for f := range inDocs {
		if !slices.Contains(entry, f) {
			t.Errorf("docs/configuration.md lists the field %s, which no entry takes", f)
		}
	}
	var help bytes.Buffer
	run(context.Background(), []string{"--help"}, &help, io.Discard)
	for _, m := range regexp.MustCompile(`--(sunor\.[a-z-]+)`).FindAllStringSubmatch(help.String(), -1) {
		flag := "--" + m[1]
		name := strings.ReplaceAll(strings.TrimPrefix(m[1], "sunor."), "-", "_")
		if !slices.ContainsFunc(entry, func(f string) bool { return config.FlagOf(f) == flag }) && !strings.HasPrefix(config.FlagOnly(name), flag) {
			t.Errorf("%s is no field's flag, and a field %s does not say it is set by it", flag, name)
		}
	}
}

// TestLabelFlagSplit: --sunor.label splits at the first = or :, so a value
// may hold either.
func TestLabelFlagSplit(t *testing.T) {
	f, exit := parseFlags([]string{"--sunor.label=team=a:b", "--sunor.label=env:prod=1"}, io.Discard, io.Discard)
	if exit >= 0 || f.account.Labels["team"] != "a:b" || f.account.Labels["env"] != "prod=1" || len(f.account.Labels) != 2 {
		t.Errorf("exit %d, labels %v", exit, f.account.Labels)
	}
}
