package main

// End-to-end tests of the real program: flags parsed by run, the server
// started on a random loopback port, scraped over HTTP.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

const canaryKey = "sk-CANARY-7d1e4b2a9f" // what must never leak

var listeningRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// exporter is a running instance of run.
type exporter struct {
	url  string
	log  *testtool.Lines
	stop func() int // stops it and returns its exit status
}

// start runs the program with args on a random port and waits until it
// listens.
func start(t *testing.T, args ...string) *exporter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testtool.Lines{}
	done := make(chan int, 1)
	args = append([]string{"--web.listen-address=127.0.0.1:0", "--log.level=debug"}, args...)
	go func() {
		code := run(ctx, args, io.Discard, logs)
		logs.Close()
		done <- code
	}()
	line, err := logs.Next(listeningRE, 10*time.Second)
	if err != nil {
		cancel()
		t.Fatalf("the exporter did not listen: %v", err)
	}
	e := &exporter{url: "http://" + listeningRE.FindStringSubmatch(line)[1], log: logs}
	var once sync.Once
	status := -1
	e.stop = func() int {
		once.Do(func() {
			cancel()
			// Shutdown waits for in-flight scrapes, at most the longest
			// timeout and 5 s: the tests use 10 s or less.
			select {
			case status = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("waited 30s for the exporter to stop; its log:\n%s", logs) // Errorf: safe from any goroutine
			}
		})
		return status
	}
	t.Cleanup(func() { e.stop() })
	return e
}

// get fetches path. It takes the calling test's t rather than keeping the
// one that started the exporter: a subtest that failed through its
// parent's t would call FailNow from the wrong goroutine.
func (e *exporter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return testtool.Get(t, e.url+path)
}

// post sends an empty POST to path.
func (e *exporter) post(t *testing.T, path string) (int, string) {
	t.Helper()
	return testtool.Fetch(t, http.MethodPost, e.url+path)
}

// fakeAPI starts a fake Sunor API that knows key.
func fakeAPI(t *testing.T, key string) (*fakesunor.Server, string) {
	t.Helper()
	fake := fakesunor.New(key)
	return fake, testtool.ServeAPI(t, fake).URL
}

func parseMetrics(t *testing.T, body string) map[string]model.Vector {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	out := map[string]model.Vector{}
	for name, mf := range mfs {
		v, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mf)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

func sample(t *testing.T, m map[string]model.Vector, name string, labels map[string]string) (float64, bool) {
	t.Helper()
next:
	for _, s := range m[name] {
		for k, v := range labels {
			if string(s.Metric[model.LabelName(k)]) != v {
				continue next
			}
		}
		return float64(s.Value), true
	}
	return 0, false
}

func TestScrapeOverHTTP(t *testing.T) {
	fake, url := fakeAPI(t, canaryKey)
	fake.Update(canaryKey, func(a *fakesunor.Account) { a.Available = 123.5 })
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url, "--sunor.account=prod")

	code, body := e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	m := parseMetrics(t, body)
	for name, want := range map[string]float64{
		"sunor_api_up": 1, "sunor_credits_available": 123.5, "sunor_credits_frozen": 10, "sunor_credits_total": 133.5,
	} {
		if v, ok := sample(t, m, name, map[string]string{"account": "prod"}); !ok || v != want {
			t.Errorf("%s{account=prod} = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := sample(t, m, "sunor_exporter_build_info", nil); !ok {
		t.Error("sunor_exporter_build_info is missing")
	}
	for _, prefix := range []string{"go_goroutines", "process_resident_memory_bytes", "promhttp_metric_handler_requests_total"} {
		if _, ok := m[prefix]; !ok {
			t.Errorf("%s is missing", prefix)
		}
	}
	if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"reason": "timeout"}); v != 0 {
		t.Errorf("errors{reason=timeout} = %v, want 0", v)
	}
	checkWithPromtool(t, body)
}

// checkWithPromtool runs `promtool check metrics` on an exposition. Only the
// lint about sunor_credits_total (a gauge with a counter's suffix, the name
// users asked for) is waived. Without promtool the test fails in CI and is
// skipped, loudly, elsewhere (testtool.Path).
func checkWithPromtool(t *testing.T, body string) {
	t.Helper()
	code, out := promtoolCheckMetrics(t, body)
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, "sunor_credits_total ") {
			continue
		}
		problems = append(problems, line)
	}
	if len(problems) > 0 {
		t.Errorf("promtool check metrics: exit status %d\n%s", code, strings.Join(problems, "\n"))
	}
}

// promtoolCheckMetrics runs `promtool check metrics` on an exposition.
func promtoolCheckMetrics(t *testing.T, body string) (int, string) {
	t.Helper()
	cmd := exec.Command(testtool.Path(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	return testtool.Run(t, cmd, 30*time.Second)
}

func TestPromtoolFlagsTheWaivedLint(t *testing.T) {
	// The waiver above must be about a real lint: if promtool stopped
	// reporting sunor_credits_total the waiver would hide nothing, and if it
	// reported it differently the waiver must still match.
	_, out := promtoolCheckMetrics(t, "# HELP sunor_credits_total x\n# TYPE sunor_credits_total gauge\nsunor_credits_total 1\n")
	if !strings.HasPrefix(out, "sunor_credits_total ") {
		t.Errorf("promtool's lint of sunor_credits_total changed form: %q", out)
	}
}

func TestFailedScrapeOverHTTP(t *testing.T) {
	fake, url := fakeAPI(t, canaryKey)
	fake.Update(canaryKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailBadGateway })
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url)
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	if v, ok := sample(t, m, "sunor_api_up", nil); !ok || v != 0 {
		t.Errorf("sunor_api_up = %v (present %v), want 0", v, ok)
	}
	if _, ok := m["sunor_credits_available"]; ok {
		t.Error("credits present after a failed call")
	}
	if v, _ := sample(t, m, "sunor_api_errors_total", map[string]string{"reason": "server_error"}); v != 1 {
		t.Errorf("server_error = %v, want 1", v)
	}
	checkWithPromtool(t, body)
}

func TestFlagsFromEnvironment(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	t.Setenv("SUNOR_URL", url)
	t.Setenv("SUNOR_CACHE_TTL", "1h")
	t.Setenv("SUNOR_ACCOUNT", "from-env")
	e := start(t)
	_, body := e.get(t, "/metrics")
	if !strings.Contains(body, `sunor_credits_available{account="from-env"} 950`) {
		t.Errorf("SUNOR_URL/SUNOR_ACCOUNT not honoured:\n%s", body)
	}
	_, body = e.get(t, "/metrics")
	if !strings.Contains(body, `sunor_api_calls_skipped_total{account="from-env",endpoint="balance",reason="cache"} 1`) {
		t.Errorf("SUNOR_CACHE_TTL not honoured: the second scrape was not answered from the cache:\n%s", body)
	}
}

func TestDisableExporterMetrics(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url, "--web.disable-exporter-metrics")
	_, body := e.get(t, "/metrics")
	for _, p := range []string{"go_", "process_", "promhttp_"} {
		if regexp.MustCompile(`(?m)^` + p).MatchString(body) {
			t.Errorf("%s* series present with --web.disable-exporter-metrics", p)
		}
	}
	for _, want := range []string{"sunor_exporter_build_info", "sunor_api_up"} {
		if !strings.Contains(body, want) {
			t.Errorf("%s missing", want)
		}
	}
}

func TestTelemetryPathHealthAndLanding(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url, "--web.telemetry-path=/sunor-metrics", "--sunor.account=shop<1>")
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if code, _ := e.get(t, p); code != 200 {
			t.Errorf("%s: %d, want 200", p, code)
		}
	}
	code, page := e.get(t, "/")
	if code != 200 || !strings.Contains(page, "Sunor Exporter") || !strings.Contains(page, `href="/sunor-metrics"`) || !strings.Contains(page, "shop&lt;1&gt;") {
		t.Errorf("landing page: %d\n%s", code, page)
	}
	if code, body := e.get(t, "/sunor-metrics"); code != 200 || !strings.Contains(body, "sunor_api_up") {
		t.Errorf("/sunor-metrics: %d", code)
	}
}

func TestGracefulStop(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	e := start(t, "--sunor.url="+url)
	e.get(t, "/metrics")
	if code := e.stop(); code != 0 {
		t.Errorf("exit status %d after a stop signal, want 0", code)
	}
	if !strings.Contains(e.log.String(), "msg=Stopped") {
		t.Errorf("no orderly stop in the log:\n%s", e.log)
	}
}

// startupCase is bad start-up input: the program must stop with status 1
// and exactly one log line that contains want, never a panic, and never
// show a key or a URL's password.
type startupCase struct {
	name string
	env  []string // NAME=value for the run; SUNOR_API_KEY is empty otherwise
	args []string
	want string
}

// secretWords must not show in any start-up error.
var secretWords = []string{canaryKey, "PASSWORD", "TOKENTOKEN", "CANARY"}

// startupCases builds the cases' files in a temporary directory.
func startupCases(t *testing.T) []startupCase {
	dir := t.TempDir()
	file := func(name, content string) string {
		writeConfig(t, filepath.Join(dir, name), content)
		return filepath.Join(dir, name)
	}
	key := file("key", canaryKey)
	unreadable := filepath.Join(dir, "unreadable")
	os.Mkdir(unreadable, 0o700) // reading a directory fails even as root
	config := func(name, entry string) string {
		return "--config.file=" + file(name+".yml", "accounts:\n  - name: a\n    api_key_file: "+key+"\n"+entry)
	}
	// A port that is taken, for as long as the test runs.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	withKey := []string{"SUNOR_API_KEY=" + canaryKey}

	cases := []startupCase{
		{"no key", nil, nil, "no API key"},
		{"missing key file", nil, []string{"--sunor.api-key-file=" + filepath.Join(dir, "nope")}, "no such file"},
		{"unreadable key file", nil, []string{"--sunor.api-key-file=" + unreadable}, "is a directory"},
		{"empty key file", nil, []string{"--sunor.api-key-file=" + file("empty", "\n  \n")}, "is empty"},
		{"blank key env", []string{"SUNOR_API_KEY=   "}, nil, `err="environment variable SUNOR_API_KEY is empty"`},
		{"both key sources", withKey, []string{"--sunor.api-key-file=" + key}, "more than one of --sunor.api-key-file"},
		// Keys that could not go into a request header as they are (an
		// environment cannot hold NUL; a file can).
		{"CR LF in SUNOR_API_KEY", []string{"SUNOR_API_KEY=" + canaryKey + "\r\nX-Injected: 1"}, nil, "SUNOR_API_KEY"},
		{"LF in an api_key_env variable", []string{"SUNOR_LF_KEY=" + canaryKey + "\n" + canaryKey},
			[]string{"--config.file=" + file("lf.yml", "accounts:\n  - name: a\n    api_key_env: SUNOR_LF_KEY\n")}, "lf.yml:3: accounts[0] (a): api_key_env: "},
		{"0x01 in the key file", nil, []string{"--sunor.api-key-file=" + file("ctl", canaryKey+"\x01")}, filepath.Join(dir, "ctl")},
		{"NUL in the key file", nil, []string{"--sunor.api-key-file=" + file("nul", canaryKey+"\x00"+canaryKey)}, filepath.Join(dir, "nul")},

		{"url not http", withKey, []string{"--sunor.url=ftp://sunor.cc"}, "not an http(s) URL"},
		{"url without scheme", withKey, []string{"--sunor.url=sunor.cc"}, `not an http(s) URL (did you mean \"https://sunor.cc\"?)`},
		{"loopback url without scheme", withKey, []string{"--sunor.url=127.0.0.1:46125"}, `--sunor.url: \"127.0.0.1:46125\" is not an http(s) URL (did you mean \"http://127.0.0.1:46125\"?)`},
		// A URL's password (or a token as its user) never shows, whatever
		// else is wrong with the URL.
		{"url with a password, not http", withKey, []string{"--sunor.url=ftp://u:PASSWORD@sunor.cc/"}, `--sunor.url: \"ftp://xxxxx@sunor.cc/\" is not an http(s) URL`},
		{"url with a password, bad escape", withKey, []string{"--sunor.url=https://u:PASSWORD@sunor.cc/%zz"}, `--sunor.url: not a URL: invalid URL escape \"%zz\"`},
		{"url with a password, no host", withKey, []string{"--sunor.url=http://u:PASSWORD@/"}, "has no host"},
		{"url with a password read as a port", withKey, []string{"--sunor.url=http://u:PASSWORD/x@sunor.cc"}, "--sunor.url: not a URL"},
		{"url with a token as user", withKey, []string{"--sunor.url=https://TOKENTOKEN@sunor.cc"}, "must not carry credentials"},
		{"config url with a password", nil, []string{config("url", "    url: ftp://u:PASSWORD@sunor.cc/\n")}, "url.yml:4: accounts[0] (a): url: "},

		{"zero timeout", withKey, []string{"--sunor.timeout=0s"}, "--sunor.timeout"},
		{"bad duration", withKey, []string{"--sunor.timeout=soon"}, "--sunor.timeout: time: invalid duration"},
		{"config timeout 0s", nil, []string{config("timeout", "    timeout: 0s\n")}, "timeout.yml:4: accounts[0] (a): timeout: must be positive"},
		{"negative --web.max-requests", withKey, []string{"--web.max-requests=-5"}, "--web.max-requests must not be negative"},
		{"negative --sunor.max-calls-per-minute", withKey, []string{"--sunor.max-calls-per-minute=-1"}, "--sunor.max-calls-per-minute: must not be negative"},
		{"negative --sunor.rate-limit-reserve", withKey, []string{"--sunor.rate-limit-reserve=-1"}, "--sunor.rate-limit-reserve: must not be negative"},
		{"negative --sunor.max-concurrent-calls", withKey, []string{"--sunor.max-concurrent-calls=-1"}, "--sunor.max-concurrent-calls must not be negative"},
		{"config negative max_calls_per_minute", nil, []string{config("calls", "    max_calls_per_minute: -1\n")}, "calls.yml:4: accounts[0] (a): max_calls_per_minute: must not be negative"},
		{"config negative rate_limit_reserve", nil, []string{config("reserve", "    rate_limit_reserve: -1\n")}, "reserve.yml:4: accounts[0] (a): rate_limit_reserve: must not be negative"},

		{"bad label flag", withKey, []string{"--sunor.label=team"}, "--sunor.label: expected KEY=VALUE"},
		{"label flag twice", withKey, []string{"--sunor.label=team=a", "--sunor.label=team:b"}, `--sunor.label: "team" given twice: a label has one value`},
		{"reserved label flag", withKey, []string{"--sunor.label=team=a", "--sunor.label=job=x"}, `--sunor.label: \"job\" is reserved`},
		{"negative threshold flag", withKey, []string{"--sunor.low-credits-threshold=-1"}, "--sunor.low-credits-threshold: must not be negative"},
		{"config reserved label", nil, []string{config("label", "    labels: {instance: x}\n")}, `label.yml:4: accounts[0] (a): labels.instance: \"instance\" is reserved`},
		{"config negative threshold", nil, []string{config("threshold", "    low_credits_threshold: -5\n")}, "threshold.yml:4: accounts[0] (a): low_credits_threshold: must not be negative"},
		{"missing key directory", nil, []string{"--sunor.api-key-directory=" + filepath.Join(dir, "nope")}, "--sunor.api-key-directory: key directory: open " + filepath.Join(dir, "nope")},
		{"key directory and a key", withKey, []string{"--sunor.api-key-directory=" + dir}, "more than one of --sunor.api-key-file"},
		{"config missing key directory", nil, []string{"--config.file=" + file("keydir.yml", "api_key_directory: "+filepath.Join(dir, "nope")+"\n")}, "keydir.yml:1: api_key_directory: key directory: open "},
		{"account not UTF-8", withKey, []string{"--sunor.account=a\xff"}, "--sunor.account: the account name"},
		{"config name not UTF-8", nil, []string{"--config.file=" + file("binary.yml", "accounts:\n  - name: !!binary YWL/\n    api_key_file: "+key+"\n")}, "binary.yml:2: accounts[0] (ab\\\\xff): name: the account name (label value) must be non-empty UTF-8"},
		{"config unknown field", nil, []string{config("typo", "    api_keyfile: x\n")}, `typo.yml:4: accounts[0] (a): unknown field \"api_keyfile\" (did you mean \"api_key_file\"?)`},
		{"config flag-only field", nil, []string{config("flagonly", "    max_concurrent_calls: 4\n")}, `flagonly.yml:4: accounts[0] (a): \"max_concurrent_calls\" is set by --sunor.max-concurrent-calls, for the whole exporter`},
		{"config wrong type", nil, []string{config("fast", "    timeout: fast\n")}, `fast.yml:4: accounts[0] (a): timeout: wants a duration such as 5s or 1m30s, got \"fast\"`},
		{"missing config file", nil, []string{"--config.file=" + filepath.Join(dir, "nope.yml")}, "--config.file: stat " + filepath.Join(dir, "nope.yml") + ": no such file or directory"},
		{"config tab", nil, []string{"--config.file=" + file("tab.yml", "accounts:\n\t- name: a\n")}, "tab.yml:2: a tab in the indentation"},
		{"config key pasted as a variable name", nil, []string{"--config.file=" + file("pasted.yml", "accounts:\n  - name: a\n    api_key_env: "+canaryKey+"\n")}, "pasted.yml:3: accounts[0] (a): api_key_env: is not the name of an environment variable"},
		{"config key pasted as a variable name, valid", nil, []string{"--config.file=" + file("pasted2.yml", "accounts:\n  - name: a\n    api_key_env: sk_CANARY_7d1e4b2a9f\n")}, "pasted2.yml:3: accounts[0] (a): api_key_env: the environment variable it names is not set"},
		{"config name with a newline", nil, []string{"--config.file=" + file("nl.yml", "accounts:\n  - name: \"a\\nb\"\n    api_key_file: "+key+"\n")}, "nl.yml:2: accounts[0] (a\\\\nb): name: "},
		{"config file not UTF-8", nil, []string{"--config.file=" + file("bytes.yml", "accounts:\n  - name: a\xff\n    api_key_file: "+key+"\n")}, "bytes.yml:2: not UTF-8 text"},

		// A key pasted into another field or flag is quoted by the error:
		// redacted, at start-up as on a reload, though no key is read yet.
		{"config key in timeout", nil, []string{config("k-timeout", "    timeout: "+canaryKey+"\n")}, `k-timeout.yml:4: accounts[0] (a): timeout: wants a duration such as 5s or 1m30s, got \"<redacted>\"`},
		{"config key in url", nil, []string{config("k-url", "    url: "+canaryKey+"\n")}, `k-url.yml:4: accounts[0] (a): url: \"<redacted>\" is not an http(s) URL`},
		{"config key in max_calls_per_minute", nil, []string{config("k-calls", "    max_calls_per_minute: "+canaryKey+"\n")}, `k-calls.yml:4: accounts[0] (a): max_calls_per_minute: wants a whole number such as 12, got \"<redacted>\"`},
		{"config key as a field name", nil, []string{config("k-field", "    "+canaryKey+": x\n")}, `k-field.yml:4: accounts[0] (a): unknown field \"<redacted>\"`},
		{"config key in ca_file", nil, []string{config("k-ca", "    http_client_config: {tls_config: {ca_file: "+canaryKey+"}}\n")}, "k-ca.yml:4: accounts[0] (a): http_client_config"},
		{"config key of the environment in timeout", []string{"SUNOR_K_ENV=" + canaryKey}, []string{"--config.file=" + file("k-env.yml", "accounts:\n  - name: a\n    api_key_env: SUNOR_K_ENV\n    timeout: "+canaryKey+"\n")}, "k-env.yml:4: accounts[0] (a): timeout: "},
		{"config key of the directory in timeout", nil, []string{"--config.file=" + file("k-dir.yml", "api_key_directory: "+keyDir(t, canaryKey)+"\ndefaults: {timeout: "+canaryKey+"}\n")}, "k-dir.yml:2: defaults: timeout: "},
		{"key in --sunor.timeout", withKey, []string{"--sunor.timeout=" + canaryKey}, "--sunor.timeout: time: invalid duration"},
		{"key file's key in --sunor.url", nil, []string{"--sunor.api-key-file=" + key, "--sunor.url=" + canaryKey}, "--sunor.url: "},
		{"key as a --sunor.label name", []string{"SUNOR_API_KEY=sk_CANARY_7d1e4b2a9f"}, []string{"--sunor.label=sk_CANARY_7d1e4b2a9f=x"}, "--sunor.label: a label name holds an API key"},
		{"key in --web.telemetry-path", withKey, []string{"--web.telemetry-path=" + canaryKey}, "--web.telemetry-path: "},

		{"unknown flag", withKey, []string{"--sunor.api-key=" + canaryKey}, "unknown long flag"},
		{"bad log level", withKey, []string{"--log.level=loud"}, "--log.level: enum value"},
		{"missing CA file", withKey, []string{"--sunor.ca-file=" + filepath.Join(dir, "ca.pem")}, "ca.pem"},
		{"port taken", withKey, []string{"--web.listen-address=" + taken.Addr().String()}, "address already in use"},
		{"address not this machine's", withKey, []string{"--web.listen-address=192.0.2.1:10151"}, "--web.listen-address: listen tcp 192.0.2.1:10151"},
	}
	// Telemetry paths that are not plain paths, or that the exporter
	// serves itself: http.ServeMux would panic on them.
	for _, p := range []string{"/-/healthy", "/-/ready", "/-/reload", "/", "/status", "/probe", "/sd", "/a{", "/a?b", "metrics"} {
		cases = append(cases, startupCase{"telemetry path " + p, withKey, []string{"--web.telemetry-path=" + p}, "--web.telemetry-path: "})
	}
	// What --config.check checks too, and in the same single line.
	for _, check := range []bool{false, true} {
		var cc []string
		suffix := ""
		if check {
			cc, suffix = []string{"--config.check"}, ", --config.check"
		}
		cases = append(cases,
			startupCase{"missing web config" + suffix, withKey, append(cc, "--web.config.file="+filepath.Join(dir, "web.yml")), "--web.config.file: open " + filepath.Join(dir, "web.yml")},
			startupCase{"bad web config" + suffix, withKey, append(cc, "--web.config.file="+file("web-bad.yml", "tls_server_config: {cert_file: /nope.crt}\n")), "--web.config.file: "},
			startupCase{"listen address without a port" + suffix, withKey, append(cc, "--web.listen-address=localhost"), "--web.listen-address: \\\"localhost\\\": address localhost: missing port in address"},
			startupCase{"listen address with a bad port" + suffix, withKey, append(cc, "--web.listen-address=127.0.0.1:99999"), "--web.listen-address: \\\"127.0.0.1:99999\\\": bad port"},
		)
	}
	return cases
}

// keyDir is a key directory holding key, as account a.
func keyDir(t *testing.T, key string) string {
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "a"), key)
	return dir
}

// checkStartupFailure asserts what a user sees of a failed start.
func checkStartupFailure(t *testing.T, tc startupCase, code int, out string) {
	t.Helper()
	out = strings.TrimSpace(out)
	if code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, out)
	}
	if lines := strings.Split(out, "\n"); len(lines) != 1 {
		t.Errorf("want exactly one line, got %d:\n%s", len(lines), out)
	}
	if !strings.Contains(out, tc.want) {
		t.Errorf("the output does not name the problem (%q):\n%s", tc.want, out)
	}
	for _, w := range secretWords {
		if strings.Contains(out, w) {
			t.Errorf("the output shows a secret (%s):\n%s", w, out)
		}
	}
}

// TestStartupErrors: bad input stops the program (run, in this process)
// at start with status 1 and one line that names the problem.
func TestStartupErrors(t *testing.T) {
	for _, tc := range startupCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SUNOR_API_KEY", "")
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			// The deadline stops a start that wrongly succeeds.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			code := run(ctx, append([]string{"--web.listen-address=127.0.0.1:0"}, tc.args...), io.Discard, &stderr)
			checkStartupFailure(t, tc, code, stderr.String())
		})
	}
}

// TestBinaryStartupErrors: the same, for the program as users run it.
func TestBinaryStartupErrors(t *testing.T) {
	for _, tc := range startupCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"SUNOR_API_KEY="}, tc.env...)
			code, out := runBinary(t, env, append([]string{"--web.listen-address=127.0.0.1:0"}, tc.args...)...)
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("a panic:\n%s", out)
			}
			checkStartupFailure(t, tc, code, out)
		})
	}
}

// TestChecksAcceptGoodInput: the start-up checks refuse no path or
// address that a user may rightly give.
func TestChecksAcceptGoodInput(t *testing.T) {
	for _, p := range []string{"/metrics", "/sunor-metrics", "/x/metrics", "/-/metrics", "/probe/x"} {
		if err := checkTelemetryPath(p); err != nil {
			t.Errorf("--web.telemetry-path=%s refused: %v", p, err)
		}
	}
	for _, a := range []string{":10151", "127.0.0.1:0", "[::1]:10151", "localhost:10151", ":http", "vsock://:10151"} {
		if err := checkListenAddress(a); err != nil {
			t.Errorf("--web.listen-address=%s refused: %v", a, err)
		}
	}
	if err := checkListenAddress("vsock://:ten"); err == nil {
		t.Error("vsock://:ten accepted")
	}
}

func TestBadFlagFromEnvironmentNamesTheFlag(t *testing.T) {
	t.Setenv("SUNOR_API_KEY", canaryKey)
	t.Setenv("SUNOR_CACHE_TTL", "5 minutes")
	var stderr bytes.Buffer
	code := run(context.Background(), nil, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--sunor.cache-ttl") {
		t.Errorf("exit %d, %q; want 1 and a line naming --sunor.cache-ttl", code, stderr.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Setenv("SUNOR_API_KEY", canaryKey)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(canaryKey), 0o600)
	t.Setenv("SUNOR_API_KEY_FILE", keyFile)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := stdout.String() + stderr.String()
	if strings.Contains(help, canaryKey) {
		t.Error("--help shows the key")
	}
	for _, want := range []string{"--sunor.api-key-file", "SUNOR_API_KEY", "($SUNOR_CACHE_TTL)", "--web.listen-address=:10151", "--web.telemetry-path=/metrics", "--web.max-requests=40", "--sunor.timeout-offset=0.5s"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "sunor_exporter, version") {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
}

// TestKeyNeverLeaks drives every failure mode and checks that the key shows
// in no log line (at debug level), no /metrics answer, not the landing page,
// and that no request carrying it reaches a host other than the API.
func TestKeyNeverLeaks(t *testing.T) {
	var strayKeys sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		strayKeys.Store(r.Header.Get("x-api-key"), true)
	}))
	defer elsewhere.Close()
	fake, url := fakeAPI(t, canaryKey)
	fake.RedirectTo = elsewhere.URL + "/api/v1/account/balance?key=" + canaryKey
	t.Setenv("SUNOR_API_KEY", canaryKey)
	// No ceiling: every mode must reach the API.
	e := start(t, "--sunor.url="+url, "--sunor.timeout=200ms", "--sunor.max-calls-per-minute=0")

	var seen strings.Builder
	modes := []string{"", fakesunor.FailUnauthorized, fakesunor.FailEchoKey, fakesunor.FailServerError,
		fakesunor.FailBadGateway, fakesunor.FailPayment, fakesunor.FailAPIError, fakesunor.FailDecode,
		fakesunor.FailMissingField, fakesunor.FailStringNumber, fakesunor.FailHugeBody, fakesunor.FailRedirect,
		fakesunor.FailHang, fakesunor.FailSlowBody, fakesunor.FailRateLimited}
	for _, mode := range modes {
		fake.Update(canaryKey, func(a *fakesunor.Account) { a.Fail = mode })
		_, body := e.get(t, "/metrics")
		seen.WriteString(body)
		_, page := e.get(t, "/")
		seen.WriteString(page)
		// The status page as JSON and the debug probe show the last
		// call's API message: redacted as the log is.
		_, page = e.get(t, "/status?format=json")
		seen.WriteString(page)
		_, page = e.get(t, "/probe?account=default&debug=true")
		seen.WriteString(page)
	}
	if !strings.Contains(seen.String(), `reason="rate_limited"} 1`) {
		t.Fatal("the modes were not all driven: no 429 counted")
	}
	if strings.Contains(seen.String(), canaryKey) {
		t.Error("/metrics, /, /status?format=json or the debug probe shows the key")
	}
	if e.stop(); strings.Contains(e.log.String(), canaryKey) {
		t.Errorf("the log shows the key:\n%s", e.log)
	}
	if !strings.Contains(e.log.String(), "<redacted>") {
		t.Error("the echoed key was not redacted in the log (or the echo mode did not run)")
	}
	strayKeys.Range(func(k, _ any) bool {
		t.Errorf("a request reached the redirect target with key %q", k)
		return true
	})
}

// TestBinarySignals runs the built binary: SIGTERM and SIGINT stop it
// gracefully with status 0.
func TestBinarySignals(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startBinary(t, []string{"SUNOR_API_KEY=" + canaryKey}, "--sunor.url="+url)
		p.Signal(t, sig)
		if code := p.Wait(t, 20*time.Second); code != 0 {
			t.Errorf("%v: exit status %d, want 0\n%s", sig, code, p.Out)
		}
		if !strings.Contains(p.Out.String(), "msg=Stopped") {
			t.Errorf("%v: no orderly stop logged:\n%s", sig, p.Out)
		}
	}
}

// startBinary runs the built exporter on a random loopback port and waits
// until it listens.
func startBinary(t *testing.T, env []string, args ...string) *testtool.Proc {
	t.Helper()
	cmd := exec.Command(testtool.ExporterBinary(t), append([]string{"--web.listen-address=127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...) // the last of a name wins
	p := testtool.Start(t, cmd)
	p.Out.WaitFor(t, listeningRE, 20*time.Second)
	return p
}

// runBinary runs the built exporter to its end (it must not start serving)
// and returns its exit status and output.
func runBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testtool.ExporterBinary(t), args...)
	cmd.Env = append(os.Environ(), env...) // the last of a name wins
	return testtool.Run(t, cmd, 20*time.Second)
}

func TestMain(m *testing.M) { os.Exit(testtool.Main(m)) }
