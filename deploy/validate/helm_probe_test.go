package validate

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// operatorDuration is the pattern of the Prometheus Operator's Duration
// type (kubebuilder validation in monitoring/v1/types.go), which strict
// decoding does not check; the API server would.
var operatorDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

// rulesJob is the job the rules look for: SunorExporterDown's up{job="…"}.
func rulesJob(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`up\{job="([^"]+)"\}`).FindSubmatch(mustRead(t, rulesFile))
	if m == nil {
		t.Fatalf("%s: no up{job=\"…\"}", rulesFile)
	}
	return string(m[1])
}

// relabelConfigs turns the operator's relabelings into Prometheus's, as the
// operator writes them into the Prometheus configuration (action lower
// case), and checks each as Prometheus does when it loads it.
func relabelConfigs(t *testing.T, rcs []monitoringv1.RelabelConfig) []*relabel.Config {
	t.Helper()
	var out []*relabel.Config
	for i, rc := range rcs {
		c := relabel.DefaultRelabelConfig
		for _, l := range rc.SourceLabels {
			c.SourceLabels = append(c.SourceLabels, model.LabelName(l))
		}
		if rc.Separator != nil {
			c.Separator = *rc.Separator
		}
		if rc.Regex != "" {
			re, err := relabel.NewRegexp(rc.Regex)
			if err != nil {
				t.Fatalf("relabeling %d: regex %q: %v", i, rc.Regex, err)
			}
			c.Regex = re
		}
		c.Modulus = uint64(rc.Modulus)
		c.TargetLabel = rc.TargetLabel
		if rc.Replacement != nil {
			c.Replacement = *rc.Replacement
		}
		if rc.Action != "" {
			c.Action = relabel.Action(strings.ToLower(rc.Action))
		}
		c.NameValidationScheme = model.UTF8Validation
		if err := c.Validate(model.UTF8Validation); err != nil {
			t.Fatalf("relabeling %d %+v: %v", i, rc, err)
		}
		out = append(out, &c)
	}
	return out
}

// operatorSharding is what the Prometheus Operator appends to a scrape
// job's relabelings when its Prometheus has shards: hash __tmp_hash, or
// __address__ when nothing set __tmp_hash, and keep this shard's targets.
func operatorSharding(t *testing.T, shard, shards int) []*relabel.Config {
	sep := ";"
	one, hashmod, keep := "$1", "hashmod", "keep"
	return relabelConfigs(t, []monitoringv1.RelabelConfig{
		{SourceLabels: []monitoringv1.LabelName{"__address__", "__tmp_hash"}, TargetLabel: "__tmp_hash", Regex: "(.+);", Replacement: &one, Separator: &sep},
		{SourceLabels: []monitoringv1.LabelName{"__tmp_hash"}, TargetLabel: "__tmp_hash", Modulus: int64(shards), Action: hashmod},
		{SourceLabels: []monitoringv1.LabelName{"__tmp_hash", "__tmp_disable_sharding"}, Regex: fmt.Sprintf("%d;|.+;.+", shard), Action: keep},
	})
}

// sdTarget is one target of the exporter's /sd, as Prometheus's http_sd
// makes it: the account name as address, its meta labels, and the labels
// Prometheus itself sets before relabelling (job is the operator's
// job_name until jobName's relabeling replaces it).
func sdTarget(account string, owner map[string]string) *labels.Builder {
	b := labels.NewBuilder(labels.FromStrings(
		"__address__", account,
		"__meta_sunor_account", account,
		"__scheme__", "http",
		"__metrics_path__", "/probe",
		"job", "scrapeConfig/monitoring/sunor",
	))
	for k, v := range owner {
		b.Set("__meta_sunor_account_label_"+k, v)
	}
	return b
}

// TestHelmChartScrapeConfig: the /probe pattern through the Prometheus
// Operator (ci/probe-values.yaml). The ScrapeConfig decodes strictly into
// the operator's type, discovers the accounts from the exporter's /sd
// through its Service, and its relabelings, run by Prometheus's own
// relabelling code on /sd's targets, give each account a target that
// scrapes /probe?account=NAME at the Service with job, account and the
// owner labels the rules and the Alertmanager routes expect.
func TestHelmChartScrapeConfig(t *testing.T) {
	o := render(t, "-f", probeValues)
	if len(o.ScrapeConfigs) != 1 || len(o.ServiceMonitors) != 0 {
		t.Fatalf("%d ScrapeConfigs, %d ServiceMonitors; want the ScrapeConfig instead of the ServiceMonitor", len(o.ScrapeConfigs), len(o.ServiceMonitors))
	}
	sc := o.ScrapeConfigs[0]
	svc := checkService(t, o)
	if sc.Namespace != "monitoring" || sc.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ScrapeConfig %s/%s labels %v", sc.Namespace, sc.Name, sc.Labels)
	}
	s := sc.Spec
	job := rulesJob(t)
	if s.JobName == nil || *s.JobName != job {
		t.Errorf("jobName %v, want %q: the rules look for up{job=%q}", s.JobName, job, job)
	}
	// The exporter's Service, reachable from Prometheus's namespace.
	address := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
	if len(s.HTTPSDConfigs) != 1 {
		t.Fatalf("httpSDConfigs %+v", s.HTTPSDConfigs)
	}
	sd := s.HTTPSDConfigs[0]
	if u, err := url.Parse(string(sd.URL)); err != nil || u.Scheme != "http" || u.Host != address || u.Path != "/sd" {
		t.Errorf("http_sd URL %q, want http://%s/sd", sd.URL, address)
	}
	if sd.RefreshInterval == nil || *sd.RefreshInterval != "30s" {
		t.Errorf("http_sd refreshInterval %v", sd.RefreshInterval)
	}
	// Basic auth (webConfig) on /sd and /probe alike.
	if sd.BasicAuth == nil || s.BasicAuth == nil || s.BasicAuth.Username.Name != "sunor-exporter-scrape" {
		t.Errorf("basic auth: /sd %+v, /probe %+v", sd.BasicAuth, s.BasicAuth)
	}
	if s.MetricsPath == nil || *s.MetricsPath != "/probe" || s.HonorLabels == nil || !*s.HonorLabels ||
		s.Scheme == nil || s.Scheme.String() != "http" {
		t.Errorf("metricsPath %v, honorLabels %v, scheme %v; want /probe, true (the series carry account), http", s.MetricsPath, s.HonorLabels, s.Scheme)
	}
	for name, d := range map[string]*monitoringv1.Duration{"scrapeInterval": s.ScrapeInterval, "scrapeTimeout": s.ScrapeTimeout, "refreshInterval": sd.RefreshInterval} {
		if d == nil || !operatorDuration.MatchString(string(*d)) {
			t.Errorf("%s %v is not an operator Duration", name, d)
		}
	}
	if len(s.MetricRelabelConfigs) != 1 {
		t.Errorf("metricRelabelings %+v", s.MetricRelabelConfigs)
	}

	// The operator sets job from jobName first, then the spec's relabelings.
	jobRelabel := relabelConfigs(t, []monitoringv1.RelabelConfig{{TargetLabel: "job", Replacement: s.JobName}})
	rules := append(jobRelabel, relabelConfigs(t, s.RelabelConfigs)...)
	for _, c := range []struct {
		account string
		owner   map[string]string
	}{
		{"prod", map[string]string{"team": "music", "env": "prod"}},
		{"Music: EU/1", nil},
	} {
		b := sdTarget(c.account, c.owner)
		if !relabel.ProcessBuilder(b, rules...) {
			t.Errorf("account %q: the target is dropped", c.account)
			continue
		}
		got := b.Labels()
		want := map[string]string{
			"__param_account": c.account, // /probe?account=NAME
			"account":         c.account,
			"__address__":     address,
			"job":             job,
			"cluster":         "prod-eu", // scrapeConfig.relabelings, after the chart's
		}
		for k, v := range c.owner {
			want[k] = v
		}
		for k, v := range want {
			if got.Get(k) != v {
				t.Errorf("account %q: %s=%q after relabelling, want %q (all: %v)", c.account, k, got.Get(k), v, got)
			}
		}
		// What the target keeps (labels not starting with __) is exactly that.
		var kept []string
		got.Range(func(l labels.Label) {
			if !strings.HasPrefix(l.Name, "__") {
				kept = append(kept, l.Name)
			}
		})
		if len(kept) != len(want)-2 {
			t.Errorf("account %q: target labels %v", c.account, kept)
		}
	}

	// With a sharded Prometheus the operator hashes __tmp_hash, else the
	// address, which is the same Service for every account: the chart's
	// relabelings must spread the accounts, not put them all on one shard.
	const shards, accounts = 2, 40
	perShard := make([]int, shards)
	for i := range accounts {
		for shard := range shards {
			b := sdTarget(fmt.Sprintf("account-%d", i), nil)
			if relabel.ProcessBuilder(b, append(slices.Clone(rules), operatorSharding(t, shard, shards)...)...) {
				perShard[shard]++
			}
		}
	}
	if perShard[0]+perShard[1] != accounts || perShard[0] == 0 || perShard[1] == 0 {
		t.Errorf("%d accounts over %d shards: %v per shard; want each account on one shard and both shards used", accounts, shards, perShard)
	}

	// The NetworkPolicy lets this Prometheus scrape.
	checkNetworkPolicy(t, o, []string{"0.0.0.0/0", "::/0"}, 0, 0)
}

// TestHelmChartOneScrapeJob: the ServiceMonitor and the ScrapeConfig
// together would scrape every account twice, with its key: refused.
func TestHelmChartOneScrapeJob(t *testing.T) {
	stderr := renderFails(t, "--set", "serviceMonitor.enabled=true,scrapeConfig.enabled=true")
	if !strings.Contains(stderr, "serviceMonitor.enabled and scrapeConfig.enabled: choose one") {
		t.Errorf("stderr %s", stderr)
	}
}

// checkNetworkPolicy: the policy selects the exporter's pod; lets in the
// metrics port from the configured Prometheus (the ci files' defaults);
// lets out the API port to cidrs and DNS to kube-dns; extraIngress and
// extraEgress rules follow.
func checkNetworkPolicy(t *testing.T, o *objects, cidrs []string, extraIngress, extraEgress int) {
	t.Helper()
	if len(o.NetworkPolicies) != 1 {
		t.Fatalf("%d NetworkPolicies", len(o.NetworkPolicies))
	}
	np := o.NetworkPolicies[0].Spec
	pod := o.Deployments[0].Spec.Template
	for k, v := range np.PodSelector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, the pod has %q", k, v, pod.Labels[k])
		}
	}
	if len(np.PodSelector.MatchLabels) == 0 || len(np.PodSelector.MatchExpressions) != 0 {
		t.Errorf("podSelector %+v", np.PodSelector)
	}
	if !slices.Equal(np.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v", np.PolicyTypes)
	}
	if len(np.Ingress) != 1+extraIngress || len(np.Egress) != 2+extraEgress {
		t.Fatalf("%d ingress, %d egress rules", len(np.Ingress), len(np.Egress))
	}
	in := np.Ingress[0]
	c := pod.Spec.Containers[0]
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.String() != c.Ports[0].Name ||
		in.Ports[0].Protocol == nil || *in.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ingress ports %+v, want the container's port %q", in.Ports, c.Ports[0].Name)
	}
	if len(in.From) != 1 || in.From[0].NamespaceSelector == nil || in.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
		in.From[0].PodSelector == nil || in.From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
		t.Errorf("ingress from %+v, want Prometheus's pods in monitoring", in.From)
	}
	api, dns := np.Egress[0], np.Egress[1]
	var got []string
	for _, p := range api.To {
		if p.IPBlock == nil {
			t.Errorf("API egress peer %+v", p)
			continue
		}
		got = append(got, p.IPBlock.CIDR)
	}
	if !slices.Equal(got, cidrs) || len(api.Ports) != 1 || api.Ports[0].Port.IntValue() != 443 {
		t.Errorf("API egress to %v ports %+v, want %v port 443", got, api.Ports, cidrs)
	}
	var protos []corev1.Protocol
	for _, p := range dns.Ports {
		if p.Port.IntValue() == 53 && p.Protocol != nil {
			protos = append(protos, *p.Protocol)
		}
	}
	if !slices.Equal(protos, []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP}) ||
		len(dns.To) != 1 || dns.To[0].PodSelector == nil || dns.To[0].PodSelector.MatchLabels["k8s-app"] != "kube-dns" {
		t.Errorf("DNS egress %+v", dns)
	}
}
