package validate

import (
	"bytes"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir      = "../helm/sunor-exporter"
	allValues     = chartDir + "/ci/all-values.yaml"
	probeValues   = chartDir + "/ci/probe-values.yaml"
	rulesFile     = "../prometheus/rules/sunor.rules.yml"
	installHelm   = "go install helm.sh/helm/v3/cmd/helm@v3.22.0"
	imageRepo     = "ghcr.io/sunor-community/sunor_exporter"
	defaultSecret = "sunor-api-key"
)

func helm(t *testing.T) string { return toolPath(t, "helm", installHelm) }

func render(t *testing.T, args ...string) *objects {
	t.Helper()
	out := runTool(t, helm(t), append([]string{"template", "sunor", chartDir, "--namespace", "music"}, args...)...)
	return mustDecodeObjects(t, "helm template "+strings.Join(args, " "), out)
}

// renderFails runs helm template with args, which must fail, and returns
// its stderr.
func renderFails(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := tryTool(helm(t), append([]string{"template", "sunor", chartDir, "--namespace", "music"}, args...)...)
	if err == nil {
		t.Fatalf("helm template %s rendered (%d bytes); want a failure", strings.Join(args, " "), len(out))
	}
	return string(stderr)
}

// TestHelmLint: `helm lint --strict` (values.schema.json included) with the
// default values and with each file in ci/: every option on, and the /probe
// pattern.
func TestHelmLint(t *testing.T) {
	h := helm(t)
	runTool(t, h, "lint", "--strict", chartDir)
	files, err := filepath.Glob(chartDir + "/ci/*.yaml")
	if err != nil || !slices.Contains(files, allValues) || !slices.Contains(files, probeValues) {
		t.Fatalf("ci/ holds %v (%v); want %s and %s among them", files, err, allValues, probeValues)
	}
	for _, f := range files {
		runTool(t, h, "lint", "--strict", chartDir, "-f", f)
	}
}

// TestHelmChartCopiesInSync: the chart cannot read outside its directory,
// so it carries copies of the rules and the dashboard. They must be the
// sources byte for byte.
func TestHelmChartCopiesInSync(t *testing.T) {
	for copyPath, source := range map[string]string{
		chartDir + "/files/sunor.rules.yml": rulesFile,
		chartDir + "/files/sunor.json":      dashboardFile,
	} {
		if !bytes.Equal(mustRead(t, copyPath), mustRead(t, source)) {
			t.Errorf("%s differs from %s: run `make helm-sync`", copyPath, source)
		}
	}
}

// TestHelmChartDefaults: the default values make one exporter reading its
// key from the Secret the README tells you to create, with the image of
// this version, non-root and read-only, with HTTP probes; nothing that needs
// the Prometheus Operator.
func TestHelmChartDefaults(t *testing.T) {
	o := render(t)
	if len(o.Deployments) != 1 || len(o.Services) != 1 {
		t.Fatalf("%d Deployments, %d Services", len(o.Deployments), len(o.Services))
	}
	if len(o.ServiceMonitors)+len(o.PrometheusRules)+len(o.ConfigMaps)+len(o.Secrets)+len(o.ScrapeConfigs)+len(o.NetworkPolicies) != 0 {
		t.Errorf("defaults render extra objects: %d ServiceMonitors, %d PrometheusRules, %d ConfigMaps, %d Secrets, %d ScrapeConfigs, %d NetworkPolicies",
			len(o.ServiceMonitors), len(o.PrometheusRules), len(o.ConfigMaps), len(o.Secrets), len(o.ScrapeConfigs), len(o.NetworkPolicies))
	}
	d := o.Deployments[0]
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if want := imageRepo + ":" + version(t); c.Image != want {
		t.Errorf("image %q, want %q (appVersion = VERSION)", c.Image, want)
	}
	keyFile := flagValue(c.Args, "--sunor.api-key-file")
	if sec, key := secretFileSource(t, pod, c, keyFile); sec != defaultSecret || key != "api-key" {
		t.Errorf("--sunor.api-key-file=%s comes from Secret %q key %q, want %q key api-key", keyFile, sec, key, defaultSecret)
	}
	if flagValue(c.Args, "--sunor.account") != "default" {
		t.Errorf("args %v", c.Args)
	}
	checkHardened(t, pod, c)
	if g := c.LivenessProbe.HTTPGet; g == nil || g.Path != "/-/healthy" || g.Port.String() != "metrics" {
		t.Errorf("liveness probe %+v, want HTTP /-/healthy on metrics", c.LivenessProbe)
	}
	if g := c.ReadinessProbe.HTTPGet; g == nil || g.Path != "/-/ready" || g.Port.String() != "metrics" {
		t.Errorf("readiness probe %+v, want HTTP /-/ready on metrics", c.ReadinessProbe)
	}
	checkService(t, o)
}

// TestHelmChartCreatesKeySecret: with apiKey.value the chart makes the
// Secret the exporter reads; with no key at all it refuses to render.
func TestHelmChartCreatesKeySecret(t *testing.T) {
	o := render(t, "--set", "apiKey.existingSecret=", "--set", "apiKey.value=sk-test", "--set", "apiKey.secretKey=token")
	if len(o.Secrets) != 1 || o.Secrets[0].StringData["token"] != "sk-test" {
		t.Fatalf("secrets %+v", o.Secrets)
	}
	pod := o.Deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	keyFile := flagValue(c.Args, "--sunor.api-key-file")
	if sec, key := secretFileSource(t, pod, c, keyFile); sec != o.Secrets[0].Name || key != "token" {
		t.Errorf("--sunor.api-key-file=%s comes from Secret %q key %q, want %q key token", keyFile, sec, key, o.Secrets[0].Name)
	}
	_, stderr, err := tryTool(helm(t), "template", "sunor", chartDir, "--set", "apiKey.existingSecret=")
	if err == nil || !strings.Contains(string(stderr), "set apiKey.existingSecret") {
		t.Errorf("no key: err %v, stderr %s; want a failure naming apiKey.existingSecret", err, stderr)
	}
}

// TestHelmChartAllOptions: every option on (ci/all-values.yaml). Several
// accounts through the accounts file, each key a file from its own Secret;
// basic auth with TCP probes; ServiceMonitor with the release label;
// PrometheusRule with exactly the project's rules; the dashboard for the
// Grafana sidecar.
func TestHelmChartAllOptions(t *testing.T) {
	o := render(t, "-f", allValues)
	if len(o.Deployments) != 1 || len(o.ServiceMonitors) != 1 || len(o.PrometheusRules) != 1 {
		t.Fatalf("%d Deployments, %d ServiceMonitors, %d PrometheusRules", len(o.Deployments), len(o.ServiceMonitors), len(o.PrometheusRules))
	}
	pod := o.Deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	checkHardened(t, pod, c)
	if !strings.HasPrefix(c.Image, "registry.example/mirror/sunor_exporter:"+version(t)) {
		t.Errorf("image %q", c.Image)
	}
	if flagValue(c.Args, "--sunor.api-key-file") != "" || flagValue(c.Args, "--sunor.account") != "" {
		t.Errorf("args %v: the single-account flags are set next to --config.file", c.Args)
	}

	// The accounts file: each api_key_file is a key of a Secret, all of
	// them through one volume (accountsFile checks that).
	cfgPath := flagValue(c.Args, "--config.file")
	f := accountsFile(t, o, pod, c, cfgPath)
	want := map[string][2]string{
		"prod":        {"sunor-prod", "key"},
		"staging":     {"sunor-keys", "staging"},
		"prod-batch":  {"sunor-prod", "batch"},
		"Music: EU/1": {"sunor-eu", "api-key"},
		"qa":          {"sunor-keys", "qa"},
	}
	if len(f.Accounts) != len(want) {
		t.Fatalf("accounts %+v", f.Accounts)
	}
	for _, a := range f.Accounts {
		sec, key := secretFileSource(t, pod, c, a.APIKeyFile)
		if w := want[a.Name]; sec != w[0] || key != w[1] {
			t.Errorf("account %s: key file %s from Secret %q key %q, want %v", a.Name, a.APIKeyFile, sec, key, w)
		}
	}
	var keys *corev1.Secret
	for _, s := range o.Secrets {
		if s.Name == "sunor-keys" {
			keys = s
		}
	}
	if keys == nil || keys.StringData["staging"] != "sk-staging-not-a-real-key" || keys.StringData["qa"] != "sk-qa-not-a-real-key" || len(keys.StringData) != 2 {
		t.Errorf("the chart's Secret for the inline keys: %+v", keys)
	}
	prod, staging, qa := f.Accounts[0], f.Accounts[1], f.Accounts[4]
	if !reflect.DeepEqual(prod.Labels, map[string]string{"team": "music", "env": "prod"}) ||
		prod.LowCreditsThreshold == nil || *prod.LowCreditsThreshold != 2000 || prod.DailyBudget == nil || *prod.DailyBudget != 5000 ||
		prod.TaskCost == nil || *prod.TaskCost != 5 {
		t.Errorf("prod's labels, threshold or budget lost: %+v", prod)
	}
	if qa.DailyBudget == nil || *qa.DailyBudget != 0.5 || qa.Labels != nil || qa.LowCreditsThreshold != nil || qa.TaskCost != nil {
		t.Errorf("qa: %+v; want daily_budget 0.5 and nothing else set (the defaults fill in)", qa)
	}
	if staging.Timeout != "5s" || staging.CacheTTL != "30s" || staging.URL != "https://sunor.cc" ||
		staging.MaxCallsPerMinute == nil || *staging.MaxCallsPerMinute != 6 || staging.RateLimitReserve == nil || *staging.RateLimitReserve != 20 ||
		staging.HTTPClientConfig["proxy_url"] == nil {
		t.Errorf("staging's settings lost: %+v", staging)
	}
	d := f.Defaults
	if d == nil || d.Labels["team"] != "platform" || d.LowCreditsThreshold == nil || *d.LowCreditsThreshold != 1000 ||
		d.DailyBudget == nil || *d.DailyBudget != 2000 || d.Timeout != "8s" {
		t.Errorf("defaults: %+v", d)
	}
	if got := dirSecrets(t, pod, c, f.APIKeyDirectory); !slices.Equal(got, []string{"sunor-customer-keys", "sunor-customer-keys-2"}) {
		t.Errorf("api_key_directory %q holds the Secrets %v, want sunor-customer-keys and sunor-customer-keys-2", f.APIKeyDirectory, got)
	}
	for flag, want := range map[string]string{"--sunor.low-credits-threshold": "750", "--sunor.daily-budget": "1500", "--sunor.label": "env=prod"} {
		if got := flagValue(c.Args, flag); got != want {
			t.Errorf("%s=%q, want %q (args %v)", flag, got, want, c.Args)
		}
	}
	if got, want := goMemLimit(t, c), floorRatio(t, "0.85", "384Mi"); got != want {
		t.Errorf("GOMEMLIMIT %d, want 0.85 × 384Mi = %d", got, want)
	}
	if c.Env[len(c.Env)-1].Name != "HTTPS_PROXY" {
		t.Errorf("env %+v: extraEnv lost", c.Env)
	}

	// Basic auth: the web config is a mounted Secret, and the probes do not
	// need the credentials.
	web := flagValue(c.Args, "--web.config.file")
	if sec, _ := secretFileSource(t, pod, c, web); sec != "sunor-web-config" {
		t.Errorf("--web.config.file=%s from Secret %q", web, sec)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "metrics" || p.HTTPGet != nil {
			t.Errorf("%s probe %+v: with basic auth, want a TCP probe on the metrics port", name, p)
		}
	}

	svc := checkService(t, o)
	sm := o.ServiceMonitors[0]
	if sm.Labels["release"] != "kube-prometheus-stack" || sm.Namespace != "monitoring" {
		t.Errorf("ServiceMonitor labels %v in %q", sm.Labels, sm.Namespace)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service has %q", k, v, svc.Labels[k])
		}
	}
	if !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) {
		t.Errorf("ServiceMonitor looks in %v, the Service is in %q", sm.Spec.NamespaceSelector.MatchNames, svc.Namespace)
	}
	if sm.Spec.JobLabel != "job" || svc.Labels["job"] != "sunor" {
		t.Errorf("job label %q = %q; SunorExporterDown expects job=\"sunor\"", sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].BasicAuth == nil {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}

	// Exactly the project's rules.
	var src monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(mustRead(t, rulesFile), &src); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	pr := o.PrometheusRules[0]
	if len(src.Groups) == 0 || !reflect.DeepEqual(src, pr.Spec) {
		t.Errorf("the PrometheusRule's rules differ from %s: run `make helm-sync`", rulesFile)
	}
	if pr.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule labels %v", pr.Labels)
	}

	// The dashboard, for the Grafana sidecar.
	var dash *corev1.ConfigMap
	for _, m := range o.ConfigMaps {
		if m.Labels["grafana_dashboard"] == "1" {
			dash = m
		}
	}
	if dash == nil {
		t.Fatal("no ConfigMap with the label grafana_dashboard: \"1\"")
	}
	if dash.Annotations["grafana_folder"] != "Sunor" || dash.Namespace != "monitoring" {
		t.Errorf("dashboard ConfigMap %s/%s annotations %v", dash.Namespace, dash.Name, dash.Annotations)
	}
	j := dash.Data["sunor.json"]
	if strings.TrimSpace(j) != strings.TrimSpace(string(mustRead(t, dashboardFile))) {
		t.Errorf("the dashboard ConfigMap differs from %s: run `make helm-sync`", dashboardFile)
	}
	checkDashboard(t, "the chart's dashboard ConfigMap", []byte(j))

	checkNetworkPolicy(t, o, []string{"203.0.113.0/24"}, 1, 1)
}

func flagValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// checkHardened: non-root as the image's user, read-only, no privileges,
// resources set.
func checkHardened(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod security context %+v: want runAsNonRoot as 65532, the image's user", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context %+v: want read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the exporter does not use the Kubernetes API")
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 10151 || c.Ports[0].Name != "metrics" {
		t.Errorf("ports %+v", c.Ports)
	}
	if flagValue(c.Args, "--web.listen-address") != ":10151" {
		t.Errorf("args %v", c.Args)
	}
}

// checkService: the Service selects the pod and exposes its metrics port.
func checkService(t *testing.T, o *objects) *corev1.Service {
	t.Helper()
	svc := o.Services[0]
	podLabels := o.Deployments[0].Spec.Template.Labels
	for k, v := range svc.Spec.Selector {
		if podLabels[k] != v {
			t.Errorf("Service selects %s=%s, the pod has %q", k, v, podLabels[k])
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 10151 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}
	return svc
}

// secretFileSource returns the Secret and key that file is mounted from,
// through a Secret volume or a projected one.
func secretFileSource(t *testing.T, pod corev1.PodSpec, c corev1.Container, file string) (secret, key string) {
	t.Helper()
	v, rel := volumeFor(pod, c, file)
	switch {
	case v != nil && v.Secret != nil:
		return v.Secret.SecretName, itemKey(v.Secret.Items, rel)
	case v != nil && v.Projected != nil:
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				continue
			}
			if key := itemKey(src.Secret.Items, rel); key != "" {
				return src.Secret.Name, key
			}
		}
	}
	t.Errorf("%q is not in a mounted Secret", file)
	return "", ""
}

// dirSecrets returns the Secrets mounted, whole, as directory dir.
func dirSecrets(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string) []string {
	t.Helper()
	v, _ := volumeFor(pod, c, path.Join(dir, "any-file"))
	switch {
	case v != nil && v.Secret != nil && len(v.Secret.Items) == 0:
		return []string{v.Secret.SecretName}
	case v != nil && v.Projected != nil:
		var names []string
		for _, src := range v.Projected.Sources {
			if src.Secret == nil || len(src.Secret.Items) != 0 {
				t.Errorf("directory %q: source %+v is not a whole Secret", dir, src)
				continue
			}
			names = append(names, src.Secret.Name)
		}
		return names
	}
	t.Errorf("directory %q is not a mounted Secret", dir)
	return nil
}

// configMapFile returns the contents of file, mounted from a rendered ConfigMap.
func configMapFile(t *testing.T, o *objects, pod corev1.PodSpec, c corev1.Container, file string) string {
	t.Helper()
	v, rel := volumeFor(pod, c, file)
	if v == nil || v.ConfigMap == nil {
		t.Fatalf("%q is not in a mounted ConfigMap", file)
	}
	key := itemKey(v.ConfigMap.Items, rel)
	for _, m := range o.ConfigMaps {
		if m.Name == v.ConfigMap.Name {
			if d, ok := m.Data[key]; ok {
				return d
			}
		}
	}
	t.Fatalf("%q: ConfigMap %s has no key %s", file, v.ConfigMap.Name, key)
	return ""
}

func volumeFor(pod corev1.PodSpec, c corev1.Container, file string) (*corev1.Volume, string) {
	if file == "" {
		return nil, ""
	}
	for _, m := range c.VolumeMounts {
		if path.Dir(file) != path.Clean(m.MountPath) || m.SubPath != "" {
			continue
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				return &pod.Volumes[i], path.Base(file)
			}
		}
	}
	return nil, ""
}

// itemKey maps a file name in a Secret or ConfigMap volume to its key.
func itemKey(items []corev1.KeyToPath, file string) string {
	if len(items) == 0 {
		return file
	}
	for _, it := range items {
		if it.Path == file {
			return it.Key
		}
	}
	return ""
}
