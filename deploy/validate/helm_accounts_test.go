package validate

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// accountSettings are the per-account settings of the accounts file, as
// the chart writes them under accounts: and defaults: (BRIEF contract 3).
// Pointers tell "not written" (the default applies) from zero.
type accountSettings struct {
	URL                 string            `json:"url"`
	Timeout             string            `json:"timeout"`
	CacheTTL            string            `json:"cache_ttl"`
	MaxCallsPerMinute   *int              `json:"max_calls_per_minute"`
	RateLimitReserve    *int              `json:"rate_limit_reserve"`
	Labels              map[string]string `json:"labels"`
	LowCreditsThreshold *float64          `json:"low_credits_threshold"`
	DailyBudget         *float64          `json:"daily_budget"`
	TaskCost            *float64          `json:"task_cost"`
	HTTPClientConfig    map[string]any    `json:"http_client_config"`
}

type accountEntry struct {
	Name       string `json:"name"`
	APIKeyFile string `json:"api_key_file"`
	accountSettings
}

type accountsFileContents struct {
	Defaults        *accountSettings `json:"defaults"`
	APIKeyDirectory string           `json:"api_key_directory"`
	Accounts        []accountEntry   `json:"accounts"`
}

// accountsFile decodes the accounts file at path, mounted from a rendered
// ConfigMap, strictly: a field the exporter does not know fails. All
// api_key_files must be in one directory, one volume.
func accountsFile(t *testing.T, o *objects, pod corev1.PodSpec, c corev1.Container, path string) accountsFileContents {
	t.Helper()
	text := configMapFile(t, o, pod, c, path)
	var f accountsFileContents
	if err := yaml.UnmarshalStrict([]byte(text), &f); err != nil {
		t.Fatalf("accounts file %s: %v\n%s", path, err, text)
	}
	dirs := map[string]bool{}
	for _, a := range f.Accounts {
		dirs[filepath.Dir(a.APIKeyFile)] = true
	}
	if len(dirs) > 1 {
		t.Errorf("the keys are in %d directories %v, want one volume for all", len(dirs), dirs)
	}
	return f
}

// goMemLimit is the container's GOMEMLIMIT in bytes, 0 when not set.
func goMemLimit(t *testing.T, c corev1.Container) int64 {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			n, err := strconv.ParseInt(e.Value, 10, 64)
			if err != nil || n <= 0 {
				t.Fatalf("GOMEMLIMIT=%q: want a number of bytes", e.Value)
			}
			return n
		}
	}
	return 0
}

// floorRatio is ⌊ratio × quantity⌋ in bytes, computed exactly.
func floorRatio(t *testing.T, ratio, quantity string) int64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(ratio)
	if !ok {
		t.Fatalf("ratio %q", ratio)
	}
	q := resource.MustParse(quantity)
	r.Mul(r, new(big.Rat).SetInt64(q.Value()))
	return new(big.Int).Quo(r.Num(), r.Denom()).Int64()
}

// TestHelmSchemaRejectsUnknownValues: a misspelt value fails the render
// and names the value, instead of rendering as if it were not there.
func TestHelmSchemaRejectsUnknownValues(t *testing.T) {
	acct := "accounts[0].name=a,accounts[0].apiKey=k,"
	for _, c := range []struct{ set, want string }{
		{"serviceMonitor.enable=true", "'enable' not allowed"},
		{"scrapeConfig.enable=true", "'enable' not allowed"},
		{"networkPolicy.enable=true", "'enable' not allowed"},
		{"serviceMonitors.enabled=true", "'serviceMonitors' not allowed"},
		{"keyDirectory.secret=keys", "'secret' not allowed"},
		{acct + "accounts[0].low_credit_threshold=5", "'low_credit_threshold' not allowed"},
		{acct + "accounts[0].existingSecrets=s", "'existingSecrets' not allowed"},
		{acct + "defaults.dailyBudget=5", "'dailyBudget' not allowed"},
		{acct + "accounts[0].daily_budget=-1", "/accounts/0/daily_budget"},
		{acct + "accounts[0].low_credits_threshold=many", "/accounts/0/low_credits_threshold"},
		{acct + "accounts[0].task_cost=0", "/accounts/0/task_cost"},
		{acct + "defaults.task_cost=-5", "/defaults/task_cost"},
		{"sunor.taskCost=0", "/sunor/taskCost"},
		{"serviceMonitor.interval=1min", "/serviceMonitor/interval"},
		{"scrapeConfig.scheme=ftp", "/scrapeConfig/scheme"},
		{"goMemLimitRatio=1.5", "/goMemLimitRatio"},
	} {
		stderr := renderFails(t, "--set", c.set)
		if !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "schema") {
			t.Errorf("--set %s: stderr %s; want a schema error with %q", c.set, stderr, c.want)
		}
	}
	// A parent chart's global values are allowed.
	render(t, "--set", "global.imageRegistry=registry.example")
}

// TestHelmChartRefusesBadAccounts: what the exporter would refuse at
// start-up, the render refuses first, naming the entry.
func TestHelmChartRefusesBadAccounts(t *testing.T) {
	two := func(more ...string) []string {
		return append([]string{"--set", "accounts[0].name=prod,accounts[0].apiKey=k1,accounts[1].apiKey=k2"}, more...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{two("--set", "accounts[1].name=prod"), `accounts[1]: the name "prod" is already the name of accounts[0]; account names must be unique`},
		{two("--set", "accounts[1].name=other,accounts[2].name=prod,accounts[2].existingSecret=s"), `accounts[2]: the name "prod" is already the name of accounts[0]`},
		{two(), "at '/accounts/1': missing property 'name'"},
		{[]string{"--set", "accounts[0].name=prod"}, "accounts[0] (prod): set existingSecret or apiKey"},
		{[]string{"--set", "accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].existingSecret=s"}, "accounts[0] (prod): set existingSecret or apiKey, not both"},
		// Reserved names: refused by the schema, whose message lists them
		// all (TestHelmChartRefusesReservedLabels).
		{[]string{"--set", "accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.job=x"}, `at '/accounts/0/labels/job': value must be 'reserved label name`},
		{[]string{"--set", "accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.__team=x"}, `at '/accounts/0/labels/__team': value must be 'reserved label name`},
		{[]string{"--set", "accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.team-name=x"}, `accounts[0] (prod): labels: "team-name" is not a valid Prometheus label name`},
		{[]string{"--set", "keyDirectory.secretName=k,defaults.labels.account=x"}, `at '/defaults/labels/account': value must be 'reserved label name`},
		{[]string{"--set", "sunor.labels.instance=x"}, `at '/sunor/labels/instance': value must be 'reserved label name`},
		// "a b" has no plain file name: its key file is account-1.
		{[]string{"--set", "accounts[0].name=account-1,accounts[0].apiKey=k1,accounts[1].name=a b,accounts[1].apiKey=k2"}, `accounts[1] (a b): its key file name "account-1" is that of accounts[0]`},
		{[]string{"--set", "defaults.daily_budget=10"}, "defaults: applies to the accounts file"},
	} {
		stderr := renderFails(t, c.args...)
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v: stderr %s; want %q", c.args, stderr, c.want)
		}
	}
}

// TestHelmChartManyAccountsOneVolume: 200 accounts, half of their keys in
// one existing Secret and half given inline, make two volumes (the accounts
// file and the keys), not one per key; every key file resolves to its own
// Secret key.
func TestHelmChartManyAccountsOneVolume(t *testing.T) {
	var b strings.Builder
	b.WriteString("accounts:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - {name: shared-%d, existingSecret: sunor-many, secretKey: key-%d, labels: {team: t%d}}\n", i, i, i%3)
		fmt.Fprintf(&b, "  - {name: inline-%d, apiKey: sk-%d}\n", i, i)
	}
	values := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(values, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	o := render(t, "-f", values, "--set", "fullnameOverride=sunor")
	pod := o.Deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	if len(pod.Volumes) != 2 || len(c.VolumeMounts) != 2 {
		t.Errorf("%d volumes, %d mounts for 200 accounts, want 2 (accounts file, keys): %+v", len(pod.Volumes), len(c.VolumeMounts), pod.Volumes)
	}
	f := accountsFile(t, o, pod, c, flagValue(c.Args, "--config.file"))
	if len(f.Accounts) != 200 {
		t.Fatalf("%d accounts in the accounts file, want 200", len(f.Accounts))
	}
	for _, a := range f.Accounts {
		sec, key := secretFileSource(t, pod, c, a.APIKeyFile)
		var wantSec, wantKey string
		if n, ok := strings.CutPrefix(a.Name, "shared-"); ok {
			wantSec, wantKey = "sunor-many", "key-"+n
		} else {
			wantSec, wantKey = "sunor-keys", a.Name
		}
		if sec != wantSec || key != wantKey {
			t.Errorf("account %s: %s from Secret %q key %q, want %q key %q", a.Name, a.APIKeyFile, sec, key, wantSec, wantKey)
		}
	}
	if len(o.Secrets) != 1 || len(o.Secrets[0].StringData) != 100 || o.Secrets[0].StringData["inline-7"] != "sk-7" {
		t.Errorf("want one Secret holding the 100 inline keys, got %d Secrets", len(o.Secrets))
	}
}

// TestHelmChartRefusesReservedLabels: every label name the exporter
// refuses at start-up (which would crash-loop the pod) fails the render,
// wherever the chart takes labels, with a message that lists them all;
// deploy's TestHelmSchemaRefusesTheExportersReservedLabels checks the
// schema's list against the exporter's own.
func TestHelmChartRefusesReservedLabels(t *testing.T) {
	const all = "account, job, instance, endpoint, collector, reason, le and names starting with __"
	for _, set := range []string{
		"accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.team=music,accounts[0].labels.reason=alice",
		"accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.endpoint=x",
		"accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.collector=x",
		"keyDirectory.secretName=k,defaults.labels.reason=x",
		"sunor.labels.endpoint=x",
		"sunor.labels.__meta_x=x",
	} {
		stderr := renderFails(t, "--set", set)
		if !strings.Contains(stderr, all) {
			t.Errorf("--set %s: stderr %s; want a refusal listing %q", set, stderr, all)
		}
	}
	render(t, "--set", "accounts[0].name=prod,accounts[0].apiKey=k,accounts[0].labels.team=music,accounts[0].labels.reasons=x,accounts[0].labels.job_name=x")
}

// TestHelmChartKeyDirectory: keyDirectory alone is the accounts source:
// the accounts file names the directory, which is the Secret mounted
// whole (each entry a file the kubelet updates), with the defaults block.
func TestHelmChartKeyDirectory(t *testing.T) {
	o := render(t, "--set", "keyDirectory.secretName=sunor-customer-keys", "--set", "defaults.labels.team=customers",
		"--set", "defaults.low_credits_threshold=250", "--set", "defaults.task_cost=5")
	pod := o.Deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	if flagValue(c.Args, "--sunor.api-key-file") != "" || flagValue(c.Args, "--sunor.account") != "" {
		t.Errorf("args %v: the single-account flags are set next to the key directory", c.Args)
	}
	f := accountsFile(t, o, pod, c, flagValue(c.Args, "--config.file"))
	if f.APIKeyDirectory == "" || len(f.Accounts) != 0 {
		t.Fatalf("accounts file %+v: want api_key_directory and no accounts list", f)
	}
	if got := dirSecrets(t, pod, c, f.APIKeyDirectory); !slices.Equal(got, []string{"sunor-customer-keys"}) {
		t.Errorf("api_key_directory %s holds %v, want the Secret sunor-customer-keys", f.APIKeyDirectory, got)
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == f.APIKeyDirectory && m.SubPath != "" {
			t.Errorf("the key directory is mounted with subPath %q: the kubelet would never update it", m.SubPath)
		}
	}
	if f.Defaults == nil || f.Defaults.Labels["team"] != "customers" || f.Defaults.LowCreditsThreshold == nil || *f.Defaults.LowCreditsThreshold != 250 ||
		f.Defaults.TaskCost == nil || *f.Defaults.TaskCost != 5 {
		t.Errorf("defaults %+v", f.Defaults)
	}
	if len(o.Secrets) != 0 {
		t.Errorf("the chart creates %d Secrets; the key directory's is the user's", len(o.Secrets))
	}
}

// TestHelmChartSingleAccountPolicy: the single account's owner labels,
// threshold and budget are flags; unset, there are none (the exporter's
// defaults apply).
func TestHelmChartSingleAccountPolicy(t *testing.T) {
	c := render(t).Deployments[0].Spec.Template.Spec.Containers[0]
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--sunor.label") || strings.HasPrefix(a, "--sunor.low-credits") || strings.HasPrefix(a, "--sunor.daily") || strings.HasPrefix(a, "--sunor.task-cost") {
			t.Errorf("default args carry %s", a)
		}
	}
	c = render(t, "--set", "sunor.lowCreditsThreshold=2000,sunor.dailyBudget=0,sunor.taskCost=5,sunor.labels.team=music,sunor.labels.env=prod").
		Deployments[0].Spec.Template.Spec.Containers[0]
	var labels []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--sunor.label="); ok {
			labels = append(labels, v)
		}
	}
	if flagValue(c.Args, "--sunor.low-credits-threshold") != "2000" || flagValue(c.Args, "--sunor.daily-budget") != "0" || flagValue(c.Args, "--sunor.task-cost") != "5" ||
		!slices.Equal(labels, []string{"env=prod", "team=music"}) {
		t.Errorf("args %v", c.Args)
	}
}

// TestHelmChartGoMemLimit: GOMEMLIMIT is goMemLimitRatio of the memory
// limit, in the forms of a quantity users write; absent without a limit or
// with ratio 0; an unusual form fails the render instead of guessing.
func TestHelmChartGoMemLimit(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int64
	}{
		{nil, floorRatio(t, "0.9", "128Mi")},
		{[]string{"--set", "resources.limits.memory=1Gi"}, floorRatio(t, "0.9", "1Gi")},
		{[]string{"--set", "resources.limits.memory=1.5Gi"}, floorRatio(t, "0.9", "1.5Gi")},
		{[]string{"--set", "resources.limits.memory=500M"}, floorRatio(t, "0.9", "500M")},
		{[]string{"--set-string", "resources.limits.memory=67108864"}, floorRatio(t, "0.9", "67108864")},
		{[]string{"--set-json", "resources.limits.memory=67108864"}, floorRatio(t, "0.9", "67108864")},
		{[]string{"--set", "resources.limits.memory=384Mi,goMemLimitRatio=0.75"}, floorRatio(t, "0.75", "384Mi")},
		{[]string{"--set", "goMemLimitRatio=0"}, 0},
		{[]string{"--set", "resources.limits=null"}, 0},
	} {
		c0 := render(t, c.args...).Deployments[0].Spec.Template.Spec.Containers[0]
		if got := goMemLimit(t, c0); got != c.want {
			t.Errorf("%v: GOMEMLIMIT %d, want %d (limit %v)", c.args, got, c.want, c0.Resources.Limits.Memory())
		}
	}
	stderr := renderFails(t, "--set", "resources.limits.memory=64e6")
	if !strings.Contains(stderr, `resources.limits.memory "64e6"`) {
		t.Errorf("memory limit 64e6: stderr %s; want a message naming resources.limits.memory", stderr)
	}
}

// TestHelmChartDefaultMemoryFitsThousandAccounts: the default limit holds
// the peak RSS measured with 1000 accounts (about 60 MiB, docs) with half
// again as margin, and GOMEMLIMIT leaves the exporter's goal for 1000
// accounts (64 MiB) below it.
func TestHelmChartDefaultMemoryFitsThousandAccounts(t *testing.T) {
	const measuredPeak, goal = 60 << 20, 64 << 20
	c := render(t).Deployments[0].Spec.Template.Spec.Containers[0]
	if limit := c.Resources.Limits.Memory().Value(); limit < measuredPeak*3/2 {
		t.Errorf("default memory limit %d bytes, want at least 1.5 × the measured peak of %d", limit, measuredPeak)
	}
	if got := goMemLimit(t, c); got < goal {
		t.Errorf("default GOMEMLIMIT %d bytes is below the 1000-account goal of %d", got, goal)
	}
	if req := c.Resources.Requests.Memory().Value(); req > c.Resources.Limits.Memory().Value() {
		t.Errorf("memory request %d above the limit", req)
	}
}
