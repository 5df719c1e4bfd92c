// Package deploy holds no Go code: its tests check the deployment files
// against each other, against the exporter, and with the real promtool and
// amtool. The end-to-end test with running servers is e2e_test.go (build tag
// e2e, run by deploy/e2e.sh).
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

func tool(t *testing.T, name, pkg string) string { return testtool.Path(t, name, pkg) }

// run runs a tool to its end, within two minutes, and fails the test if it
// fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	code, out := testtool.Run(t, exec.Command(name, args...), 2*time.Minute)
	if code != 0 {
		t.Fatalf("%s %s: exit status %d\n%s", filepath.Base(name), strings.Join(args, " "), code, out)
	}
	return out
}

// readYAML decodes path into v; every field of the file must be in v.
func readYAML(t *testing.T, path string, v any) { decodeYAML(t, path, v, yaml.UnmarshalStrict) }

// readYAMLLoose decodes the fields of path that v has.
func readYAMLLoose(t *testing.T, path string, v any) { decodeYAML(t, path, v, yaml.Unmarshal) }

func decodeYAML(t *testing.T, path string, v any, unmarshal func([]byte, any) error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPromtoolCheckRulesAndConfig(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, promtool, "check", "rules", "prometheus/rules/sunor.rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules: %s", out)
	}
	run(t, promtool, "check", "config", "prometheus/prometheus.yml")
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, promtool, "test", "rules", "prometheus/tests/sunor.rules.test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	out := run(t, amtool, "check-config", "alertmanager/alertmanager.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("amtool check-config: %s", out)
	}
}

type ruleGroups struct {
	Groups []map[string]any `yaml:"groups"`
}

// TestPrometheusRuleMatchesRulesFile: the Kubernetes PrometheusRule carries
// the same groups as the plain rules file (one source of truth, generated).
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	var plain ruleGroups
	readYAML(t, "prometheus/rules/sunor.rules.yml", &plain)
	var crd struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   map[string]string `yaml:"metadata"`
		Spec       ruleGroups        `yaml:"spec"`
	}
	readYAML(t, "kubernetes/prometheusrule.yaml", &crd)
	if crd.Kind != "PrometheusRule" || len(plain.Groups) == 0 {
		t.Fatalf("kind %q, %d groups", crd.Kind, len(plain.Groups))
	}
	if !reflect.DeepEqual(plain.Groups, crd.Spec.Groups) {
		t.Error("deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/rules/sunor.rules.yml: run `make mixin`")
	}
}

// TestEveryAlertHasTestsAndRunbook: each alert has summary, description and
// runbook_url, a promtool test, and a runbook section where its runbook_url
// points (the README or docs/runbook.md).
func TestEveryAlertHasTestsAndRunbook(t *testing.T) {
	var plain struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
			Name string `yaml:"name"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/rules/sunor.rules.yml", &plain)
	tests, _ := os.ReadFile("prometheus/tests/sunor.rules.test.yml")
	readme, _ := os.ReadFile("../README.md")
	runbook, _ := os.ReadFile("../docs/runbook.md")
	alerts := 0
	for _, g := range plain.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s has no %s", r.Alert, a)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s has no severity", r.Alert)
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s has no promtool test", r.Alert)
			}
			// The runbook is the README's or docs/runbook.md, whichever
			// the URL names.
			doc, name := readme, "README.md"
			if strings.Contains(r.Annotations["runbook_url"], "/docs/runbook.md#") {
				doc, name = runbook, "docs/runbook.md"
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.Contains(r.Annotations["runbook_url"], "#"+anchor) || !strings.Contains(string(doc), "### "+r.Alert+"\n") {
				t.Errorf("%s: no runbook section \"### %s\" in %s matching its runbook_url %s", r.Alert, r.Alert, name, r.Annotations["runbook_url"])
			}
		}
	}
	if alerts < 5 {
		t.Errorf("found %d alerts", alerts)
	}
}

// TestDockerfileMatchesBinary: the image runs the binary it builds, as a
// non-root user, exposing the exporter's default port.
func TestDockerfileMatchesBinary(t *testing.T) {
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mainGo, _ := os.ReadFile("../main.go")
	port := regexp.MustCompile(`defaultAddress = ":(\d+)"`).FindSubmatch(mainGo)
	if port == nil {
		t.Fatal("no defaultAddress in main.go")
	}
	d := string(df)
	for _, want := range []string{
		"EXPOSE " + string(port[1]) + "\n",
		`ENTRYPOINT ["/bin/sunor_exporter"]`,
		"COPY --from=binary /out/sunor_exporter /bin/sunor_exporter",
		"CGO_ENABLED=0 go build -trimpath",
		"-X github.com/prometheus/common/version.Version=${VERSION}",
		"ARG GO_IMAGE=", "ARG RUNTIME_IMAGE=", "FROM --platform=${BUILDPLATFORM} ${GO_IMAGE} AS build", "FROM ${RUNTIME_IMAGE}",
		"ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH}", "FROM ${BINARY} AS binary",
		"org.opencontainers.image.source",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(d)
	if user == nil || user[1] == "0" {
		t.Errorf("Dockerfile must set a numeric non-root USER, got %v", user)
	}
	dep := deployment(t)
	sc := dep.Spec.Template.Spec.SecurityContext
	if user != nil && (!sc.RunAsNonRoot || strconv.Itoa(sc.RunAsUser) != user[1]) {
		t.Errorf("the Deployment runs as %d (runAsNonRoot %v), the image as %s", sc.RunAsUser, sc.RunAsNonRoot, user[1])
	}
}

type deploymentSpec struct {
	Spec struct {
		Template struct {
			Spec struct {
				SecurityContext struct {
					RunAsUser    int  `yaml:"runAsUser"`
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name   string `yaml:"name"`
					Secret struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	ReadinessProbe probe `yaml:"readinessProbe"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

func deployment(t *testing.T) deploymentSpec {
	t.Helper()
	var d deploymentSpec
	readYAMLLoose(t, "kubernetes/deployment.yaml", &d)
	return d
}

// TestKubernetesDeployment: key from a Secret mounted as the file the flag
// names, non-root, read-only root, requests, probes on the exporter's paths.
func TestKubernetesDeployment(t *testing.T) {
	d := deployment(t)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/-/healthy" || c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
		t.Errorf("probes on %q and %q, want /-/healthy and /-/ready", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("want a read-only root filesystem and no privilege escalation")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Error("want cpu and memory requests")
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 10151 {
		t.Errorf("ports %+v, want 10151", c.Ports)
	}
	var keyFile string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--sunor.api-key-file="); ok {
			keyFile = v
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret.SecretName != "" && filepath.Dir(keyFile) == m.MountPath {
				mounted = true
			}
		}
	}
	if keyFile == "" || !mounted {
		t.Errorf("--sunor.api-key-file=%q is not in a mounted Secret volume", keyFile)
	}
}

// TestKubernetesServiceAndKustomization: the job label the alerts expect
// ("sunor", the Service's name), and every listed resource exists.
func TestKubernetesServiceAndKustomization(t *testing.T) {
	var svc struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	readYAMLLoose(t, "kubernetes/service.yaml", &svc)
	if svc.Metadata.Name != "sunor" {
		t.Errorf("Service name %q: SunorExporterDown expects job=\"sunor\"", svc.Metadata.Name)
	}
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	readYAMLLoose(t, "kubernetes/kustomization.yaml", &kust)
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization lists %s: %v", r, err)
		}
	}
	if len(kust.Resources) != 4 {
		t.Errorf("resources %v", kust.Resources)
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/dashboards/sunor.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// TestDashboard: the dashboard has its template variables, queries every
// panel through the chosen data source, filters every selector by account,
// instance and team, and shows credits and USD. That every query returns data from a real
// Prometheus is e2e_test.go's job.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["team"] != "query" || vars["account"] != "query" || vars["instance"] != "query" {
		t.Errorf("template variables %v", vars)
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			// Every selector, not just one of the query's.
			for _, sel := range regexp.MustCompile(`\{[^}]*\}`).FindAllString(tg.Expr, -1) {
				if sel != `{account=~"$account",instance=~"$instance",team=~"$team"}` {
					t.Errorf("panel %q query %q: selector %s is not filtered by $account, $instance and $team", p.Title, tg.Expr, sel)
				}
			}
			if !strings.Contains(tg.Expr, "{") {
				t.Errorf("panel %q query %q selects no account", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{"Available credits", "Frozen credits", "Total credits", "Available (USD)", "Frozen (USD)", "Total (USD)",
		"Burn rate (credits per hour)", "Time to exhaustion", "API up", "API errors by reason", "API request duration",
		"Accounts", "Spend against the daily budget"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAMLLoose(t, "grafana/provisioning/dashboards/sunor.yml", &prov)
	cb, _ := os.ReadFile("docker-compose.yml")
	if len(prov.Providers) != 1 || !strings.Contains(string(cb), "./grafana/dashboards:"+prov.Providers[0].Options.Path) {
		t.Errorf("the compose file does not mount the dashboards where provisioning looks (%+v)", prov)
	}
}

// TestComposeFilesExist: every file the compose file mounts is in the repo.
func TestComposeFilesExist(t *testing.T) {
	var compose map[string]any
	readYAMLLoose(t, "docker-compose.yml", &compose)
	b, _ := os.ReadFile("docker-compose.yml")
	mounts := regexp.MustCompile(`- \./([a-z/._-]+):`).FindAllStringSubmatch(string(b), -1)
	if len(mounts) < 4 {
		t.Errorf("found %d mounts", len(mounts))
	}
	for _, m := range mounts {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("docker-compose.yml mounts %s: %v", m[1], err)
		}
	}
	if !strings.Contains(string(b), "--sunor.api-key-file=/run/secrets/sunor_api_key") {
		t.Error("the exporter does not read its key from the compose secret")
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/sunor_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	u := string(b)
	for _, want := range []string{"LoadCredential=api-key:", "--sunor.api-key-file=${CREDENTIALS_DIRECTORY}/api-key",
		"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "\nCapabilityBoundingSet=\n"} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		_, out := testtool.Run(t, exec.Command(sa, "verify", "systemd/sunor_exporter.service"), time.Minute)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" && !strings.Contains(l, "is not executable") { // the binary is not installed here
				t.Errorf("systemd-analyze verify: %s", l)
			}
		}
	}
}

// TestDockerfileBuildCommand: the binary the build stage's RUN command
// makes (testtool.ExporterBinary runs that command, with the output in a
// temporary directory instead of /out: no container engine is needed)
// reports the version its ldflags stamp, which the image's
// sunor_exporter_build_info will show.
func TestDockerfileBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	code, out := testtool.Run(t, exec.Command(testtool.ExporterBinary(t), "--version"), 20*time.Second)
	want := "version " + testtool.StampVersion + " (branch: " + testtool.StampBranch + ", revision: " + testtool.StampRevision + ")"
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("--version of the Dockerfile's build: exit %d, %q; want 0 and %q", code, out, want)
	}
}

// TestMain removes the binary testtool.ExporterBinary built.
func TestMain(m *testing.M) { os.Exit(testtool.Main(m)) }

// scrapeConfig is the part of a Prometheus configuration the probe and
// shard examples are checked on.
type scrapeConfig struct {
	Global struct {
		ExternalLabels map[string]string `yaml:"external_labels"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		HonorLabels   bool   `yaml:"honor_labels"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		HTTPSDConfigs []struct {
			URL string `yaml:"url"`
		} `yaml:"http_sd_configs"`
		RelabelConfigs []struct {
			SourceLabels []string `yaml:"source_labels"`
			TargetLabel  string   `yaml:"target_label"`
			Replacement  string   `yaml:"replacement"`
			Regex        string   `yaml:"regex"`
			Modulus      uint64   `yaml:"modulus"`
			Action       string   `yaml:"action"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

// TestPromtoolCheckProbeConfigs: the multi-target examples (one server, and
// sharded across two) are valid for Prometheus.
func TestPromtoolCheckProbeConfigs(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, f := range []string{"prometheus/probe.yml", "prometheus/shard-0.yml", "prometheus/shard-1.yml"} {
		run(t, promtool, "check", "config", f)
	}
}

// TestProbeConfigs: the probe examples scrape /probe of the exporter that
// prometheus.yml scrapes, with the targets of its /sd, under the job name
// the alerts expect; the account name becomes the account parameter and
// label, and the owner labels /sd gives become target labels; the
// exporter's own account label wins (honor_labels) instead of
// becoming exported_account; and the two shard files differ only in the
// shard they keep, which is also their external label. That Prometheus
// does what this says is e2e_test.go's job.
func TestProbeConfigs(t *testing.T) {
	var plain scrapeConfig
	readYAMLLoose(t, "prometheus/prometheus.yml", &plain)
	if len(plain.ScrapeConfigs) != 1 || len(plain.ScrapeConfigs[0].StaticConfigs) != 1 || len(plain.ScrapeConfigs[0].StaticConfigs[0].Targets) != 1 {
		t.Fatalf("prometheus.yml: want one job with one static target")
	}
	exporter := plain.ScrapeConfigs[0].StaticConfigs[0].Targets[0]

	for shard, f := range []string{"prometheus/probe.yml", "prometheus/shard-0.yml", "prometheus/shard-1.yml"} {
		shard-- // -1 for probe.yml
		var c scrapeConfig
		readYAMLLoose(t, f, &c)
		if len(c.ScrapeConfigs) != 1 {
			t.Fatalf("%s: want one job, got %d", f, len(c.ScrapeConfigs))
		}
		j := c.ScrapeConfigs[0]
		if j.JobName != "sunor" || j.MetricsPath != "/probe" || !j.HonorLabels {
			t.Errorf("%s: job %q, metrics_path %q, honor_labels %v; want sunor, /probe, true", f, j.JobName, j.MetricsPath, j.HonorLabels)
		}
		if len(j.HTTPSDConfigs) != 1 || j.HTTPSDConfigs[0].URL != "http://"+exporter+"/sd" {
			t.Errorf("%s: http_sd_configs %+v, want http://%s/sd", f, j.HTTPSDConfigs, exporter)
		}
		rc := j.RelabelConfigs
		if shard >= 0 {
			if len(rc) < 2 || rc[0].Action != "hashmod" || rc[0].Modulus != 2 || !reflect.DeepEqual(rc[0].SourceLabels, []string{"__address__"}) ||
				rc[1].Action != "keep" || !reflect.DeepEqual(rc[1].SourceLabels, []string{rc[0].TargetLabel}) || rc[1].Regex != strconv.Itoa(shard) {
				t.Fatalf("%s: want a hashmod of __address__ by 2 and a keep of shard %d first, got %+v", f, shard, rc)
			}
			if got := c.Global.ExternalLabels["shard"]; got != strconv.Itoa(shard) {
				t.Errorf("%s: external label shard %q, want %d", f, got, shard)
			}
			rc = rc[2:]
		}
		if len(rc) != 4 ||
			!reflect.DeepEqual(rc[0].SourceLabels, []string{"__address__"}) || rc[0].TargetLabel != "__param_account" ||
			!reflect.DeepEqual(rc[1].SourceLabels, []string{"__param_account"}) || rc[1].TargetLabel != "account" ||
			rc[2].Action != "labelmap" || rc[2].Regex != "__meta_sunor_account_label_(.+)" ||
			rc[3].TargetLabel != "__address__" || rc[3].Replacement != exporter || len(rc[3].SourceLabels) != 0 {
			t.Errorf("%s: relabelling %+v: want the target to __param_account and account, the owner labels of /sd mapped, and %s to __address__", f, rc, exporter)
		}
	}

	s0, _ := os.ReadFile("prometheus/shard-0.yml")
	s1, _ := os.ReadFile("prometheus/shard-1.yml")
	swapped := strings.NewReplacer("server 0's", "server 1's", "shard-1.yml", "shard-0.yml", `shard: "0"`, `shard: "1"`, `regex: "0"`, `regex: "1"`).Replace(string(s0))
	if swapped != string(s1) {
		t.Error("prometheus/shard-1.yml is not prometheus/shard-0.yml with the shard number changed")
	}
}

// TestAlertmanagerExporterDownPerExporter: SunorExporterDown, one alert per
// account's target with /probe, is sent as one notification per exporter
// (grouped by instance, not account), to the notify receiver.
func TestAlertmanagerExporterDownPerExporter(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	out := run(t, amtool, "config", "routes", "test", "--config.file=alertmanager/alertmanager.yml",
		"alertname=SunorExporterDown", "job=sunor", "instance=x:10151", "account=a", "severity=warning")
	// The receiver is the last line; amtool may warn before it.
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "sunor-notify" {
		t.Errorf("SunorExporterDown goes to %q, want sunor-notify", out)
	}
	type route struct {
		Matchers []string `yaml:"matchers"`
		GroupBy  []string `yaml:"group_by"`
		Routes   []route  `yaml:"routes"`
	}
	var am struct {
		Route route `yaml:"route"`
	}
	readYAMLLoose(t, "alertmanager/alertmanager.yml", &am)
	var find func(r route) *route
	find = func(r route) *route {
		if slices.Contains(r.Matchers, `alertname="SunorExporterDown"`) {
			return &r
		}
		for _, c := range r.Routes {
			if f := find(c); f != nil {
				return f
			}
		}
		return nil
	}
	r := find(am.Route)
	if r == nil || !slices.Contains(r.GroupBy, "instance") || slices.Contains(r.GroupBy, "account") {
		t.Errorf("no route groups SunorExporterDown by instance and not by account: %+v", r)
	}
}

// TestDashboardBudgetPanels: the key's budget as the exporter sees it: its
// own calls a minute next to the requests left in one panel, and the calls
// it skipped by reason in another.
func TestDashboardBudgetPanels(t *testing.T) {
	d := readDashboard(t)
	var share, skipped bool
	for _, p := range d.Panels {
		var exprs []string
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
		all := strings.Join(exprs, "\n")
		if strings.Contains(all, `(rate(sunor_api_requests_total{account=~"$account",instance=~"$instance",team=~"$team"}[5m])) * 60`) &&
			strings.Contains(all, "sunor_rate_limit_remaining{") {
			share = true
		}
		if strings.Contains(all, "sunor_api_calls_skipped_total{") && strings.Contains(all, "sum by (account, reason)") {
			skipped = true
		}
	}
	if !share {
		t.Error("no panel shows rate(sunor_api_requests_total[5m]) * 60 next to sunor_rate_limit_remaining")
	}
	if !skipped {
		t.Error("no panel shows sunor_api_calls_skipped_total by reason")
	}
}

// TestAlertmanagerRoutesByTeam: an account's alerts reach its team's
// receiver (the team label comes from the account's labels in the
// exporter's accounts file); alerts without a known team reach the
// fallback, paging for critical ones; the exporter's own alerts reach the
// notify receiver whatever the team. amtool walks the real routing tree.
func TestAlertmanagerRoutesByTeam(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=SunorCreditsLow", "account=music-prod", "team=music", "env=prod", "severity=critical"}, "team-music"},
		{[]string{"alertname=SunorSpendOverBudget", "account=music-prod", "team=music", "severity=warning"}, "team-music"},
		{[]string{"alertname=SunorCreditsLow", "account=video-dev", "team=video", "severity=critical"}, "team-video"},
		// Too few credits for a task: a page, to the account's team.
		{[]string{"alertname=SunorCreditsExhausted", "account=music-prod", "team=music", "env=prod", "severity=critical"}, "team-music"},
		{[]string{"alertname=SunorCreditsExhausted", "account=video-dev", "team=video", "severity=critical"}, "team-video"},
		{[]string{"alertname=SunorCreditsExhausted", "account=legacy", "severity=critical"}, "sunor-page"},
		{[]string{"alertname=SunorAPIDown", "account=video-dev", "team=video", "severity=warning"}, "team-video"},
		// No team, or one without a route: the fallback.
		{[]string{"alertname=SunorCreditsLow", "account=legacy", "severity=critical"}, "sunor-page"},
		{[]string{"alertname=SunorCreditsLow", "account=x", "team=unknown", "severity=critical"}, "sunor-page"},
		{[]string{"alertname=SunorCreditsExhaustionForecast", "account=legacy", "severity=warning"}, "sunor-notify"},
		{[]string{"alertname=SunorConfigReloadFailed", "job=sunor", "instance=x:10151", "severity=warning"}, "sunor-notify"},
		// The exporter's own: to whoever runs it, not the account's team.
		{[]string{"alertname=SunorExporterDown", "job=sunor", "instance=x:10151", "account=music-prod", "team=music", "severity=warning"}, "sunor-notify"},
	} {
		out := run(t, amtool, append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml"}, c.labels...)...)
		// The receiver is the last line; amtool may warn before it.
		if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != c.want {
			t.Errorf("%v goes to %q, want %s", c.labels, out, c.want)
		}
	}
}

// TestDashboardPolicyPanels: the per-account policy, as issue 15 asks: each
// account's own threshold line (the series SunorCreditsLow compares with,
// not a global number), its spend against its budget over the alert's
// windows, and a table of accounts with owner, available credits, hours
// left and the share of today's budget spent; accounts filtered by team.
func TestDashboardPolicyPanels(t *testing.T) {
	raw, err := os.ReadFile("grafana/dashboards/sunor.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
				AllValue   string `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title    string `json:"title"`
			TimeFrom string `json:"timeFrom"`
			Targets  []struct {
				Expr    string `json:"expr"`
				Instant bool   `json:"instant"`
				Format  string `json:"format"`
			} `json:"targets"`
			Transformations []struct {
				ID      string `json:"id"`
				Options struct {
					RenameByName map[string]string `json:"renameByName"`
				} `json:"options"`
			} `json:"transformations"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Definition
		// "All" teams must include accounts without a team label.
		if v.Name == "team" && v.AllValue != ".*" {
			t.Errorf("variable team: allValue %q, want .* (accounts without a team)", v.AllValue)
		}
	}
	if vars["team"] != "label_values(sunor_api_up, team)" || !strings.Contains(vars["account"], `team=~"$team"`) {
		t.Errorf("variables team %q, account %q: want accounts filtered by team", vars["team"], vars["account"])
	}
	exprs := map[string]string{}
	for _, p := range d.Panels {
		var all []string
		for _, tg := range p.Targets {
			all = append(all, tg.Expr)
		}
		exprs[p.Title] = strings.Join(all, "\n")
		if strings.Contains(exprs[p.Title], "sunor:credits_low_threshold") {
			t.Errorf("panel %q reads the global threshold of old", p.Title)
		}
	}
	if !strings.Contains(exprs["Available credits and threshold"], "account:sunor_credits_low_threshold:last1h{") {
		t.Error("the threshold line is not each account's account:sunor_credits_low_threshold:last1h")
	}
	for _, w := range []string{"5m", "30m", "4h"} {
		if !strings.Contains(exprs["Spend against the daily budget"], "account:sunor_credits_budget_burn:"+w+"{") {
			t.Errorf("the budget panel lacks the %s burn rate", w)
		}
	}
	for _, p := range d.Panels {
		if p.Title != "Accounts" {
			continue
		}
		if p.TimeFrom != "now/d" {
			t.Errorf("Accounts: timeFrom %q, want now/d (today so far, for today's budget)", p.TimeFrom)
		}
		for _, tg := range p.Targets {
			if !tg.Instant || tg.Format != "table" {
				t.Errorf("Accounts query %q: want an instant query in table format", tg.Expr)
			}
		}
		columns := map[string]bool{}
		for _, tr := range p.Transformations {
			for _, name := range tr.Options.RenameByName {
				columns[name] = true
			}
		}
		for _, c := range []string{"Owner (team)", "Available credits", "Hours left", "Today's budget spent"} {
			if !columns[c] {
				t.Errorf("Accounts table has no column %q (has %v)", c, columns)
			}
		}
		for _, want := range []string{"sunor_credits_available{", "account:sunor_credits_hours_left:6h{", "/ sunor_credits_daily_budget{", "[$__range]"} {
			if !strings.Contains(exprs["Accounts"], want) {
				t.Errorf("Accounts queries lack %q", want)
			}
		}
		return
	}
	t.Error("no Accounts table")
}

// TestDashboardTasksLeft: the number a product owner thinks in (issue 22),
// tasks each account can still start, from the recording rule the alerts
// use: a column of the Accounts table and a stat of its own.
func TestDashboardTasksLeft(t *testing.T) {
	raw, err := os.ReadFile("grafana/dashboards/sunor.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr   string `json:"expr"`
				RefID  string `json:"refId"`
				Format string `json:"format"`
			} `json:"targets"`
			Transformations []struct {
				Options struct {
					RenameByName map[string]string `json:"renameByName"`
				} `json:"options"`
			} `json:"transformations"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	const tasks = `account:sunor_credits_tasks_left:last1h{account=~"$account",instance=~"$instance",team=~"$team"}`
	var column, stat bool
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr != tasks {
				continue
			}
			switch {
			case p.Type == "stat" && p.Title == "Tasks left":
				stat = true
			case p.Type == "table" && p.Title == "Accounts":
				for _, tr := range p.Transformations {
					if tr.Options.RenameByName["Value #"+tg.RefID] == "Tasks left" {
						column = true
					}
				}
			}
		}
	}
	if !column {
		t.Errorf("the Accounts table has no column \"Tasks left\" from %s", tasks)
	}
	if !stat {
		t.Errorf("no stat \"Tasks left\" showing %s", tasks)
	}
}

// TestAlertmanagerExhaustedInhibitsLow: one page for an account out of
// credits for a task, not two: SunorCreditsExhausted holds back that
// account's SunorCreditsLow (and only that account's). What Alertmanager
// does with it is e2e_test.go's job; this catches the rule's removal in
// make test.
func TestAlertmanagerExhaustedInhibitsLow(t *testing.T) {
	var am struct {
		InhibitRules []struct {
			SourceMatchers []string `yaml:"source_matchers"`
			TargetMatchers []string `yaml:"target_matchers"`
			Equal          []string `yaml:"equal"`
		} `yaml:"inhibit_rules"`
	}
	readYAMLLoose(t, "alertmanager/alertmanager.yml", &am)
	for _, r := range am.InhibitRules {
		if slices.Equal(r.SourceMatchers, []string{`alertname="SunorCreditsExhausted"`}) &&
			slices.Equal(r.TargetMatchers, []string{`alertname="SunorCreditsLow"`}) && slices.Contains(r.Equal, "account") {
			return
		}
	}
	t.Errorf("no inhibit rule from SunorCreditsExhausted to SunorCreditsLow of the same account: %+v", am.InhibitRules)
}
