package validate

import (
	"bytes"
	"path"
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

// TestHelmLint: `helm lint --strict` with the default values and with every
// option on.
func TestHelmLint(t *testing.T) {
	h := helm(t)
	runTool(t, h, "lint", "--strict", chartDir)
	runTool(t, h, "lint", "--strict", chartDir, "-f", allValues)
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
	if len(o.ServiceMonitors)+len(o.PrometheusRules)+len(o.ConfigMaps)+len(o.Secrets) != 0 {
		t.Errorf("defaults render extra objects: %d ServiceMonitors, %d PrometheusRules, %d ConfigMaps, %d Secrets",
			len(o.ServiceMonitors), len(o.PrometheusRules), len(o.ConfigMaps), len(o.Secrets))
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

	// The accounts file: each api_key_file is a mounted Secret's key.
	cfgPath := flagValue(c.Args, "--config.file")
	cm := configMapFile(t, o, pod, c, cfgPath)
	var accounts struct {
		Accounts []struct {
			Name             string         `json:"name"`
			APIKeyFile       string         `json:"api_key_file"`
			URL              string         `json:"url"`
			Timeout          string         `json:"timeout"`
			CacheTTL         string         `json:"cache_ttl"`
			HTTPClientConfig map[string]any `json:"http_client_config"`
		} `json:"accounts"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm), &accounts); err != nil {
		t.Fatalf("accounts file %s: %v\n%s", cfgPath, err, cm)
	}
	want := map[string][2]string{"prod": {"sunor-prod", "key"}, "staging": {"sunor-key-staging", "api-key"}}
	if len(accounts.Accounts) != len(want) {
		t.Fatalf("accounts %+v", accounts.Accounts)
	}
	for _, a := range accounts.Accounts {
		sec, key := secretFileSource(t, pod, c, a.APIKeyFile)
		if w := want[a.Name]; sec != w[0] || key != w[1] {
			t.Errorf("account %s: key file %s from Secret %q key %q, want %v", a.Name, a.APIKeyFile, sec, key, w)
		}
	}
	var created *corev1.Secret
	for _, s := range o.Secrets {
		if s.Name == "sunor-key-staging" {
			created = s
		}
	}
	if created == nil || created.StringData["api-key"] == "" {
		t.Errorf("the chart does not create the staging account's Secret: %+v", o.Secrets)
	}
	if accounts.Accounts[1].Timeout != "5s" || accounts.Accounts[1].HTTPClientConfig["proxy_url"] == nil {
		t.Errorf("staging's settings lost: %+v", accounts.Accounts[1])
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

// secretFileSource returns the Secret and key that file is mounted from.
func secretFileSource(t *testing.T, pod corev1.PodSpec, c corev1.Container, file string) (secret, key string) {
	t.Helper()
	v, rel := volumeFor(pod, c, file)
	if v == nil || v.Secret == nil {
		t.Errorf("%q is not in a mounted Secret", file)
		return "", ""
	}
	return v.Secret.SecretName, itemKey(v.Secret.Items, rel)
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
