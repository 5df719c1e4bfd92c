package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objects are decoded Kubernetes objects, by kind, in file order.
type objects struct {
	Deployments     []*appsv1.Deployment
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	Secrets         []*corev1.Secret
	ConfigMaps      []*corev1.ConfigMap
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	ScrapeConfigs   []*monitoringv1alpha1.ScrapeConfig
	NetworkPolicies []*networkingv1.NetworkPolicy
}

func (o *objects) count() int {
	return len(o.Deployments) + len(o.Services) + len(o.ServiceAccounts) + len(o.Secrets) +
		len(o.ConfigMaps) + len(o.ServiceMonitors) + len(o.PrometheusRules) +
		len(o.ScrapeConfigs) + len(o.NetworkPolicies)
}

// decodeObjects splits a multi-document YAML stream and decodes every
// document strictly into its API type: an unknown field, a field of the
// wrong type, or a kind this project does not ship is an error.
func decodeObjects(data []byte) (*objects, error) {
	var o objects
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if tm.Kind == "" && tm.APIVersion == "" {
			continue // only comments
		}
		var target any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			target = appendNew(&o.Deployments)
		case "v1 Service":
			target = appendNew(&o.Services)
		case "v1 ServiceAccount":
			target = appendNew(&o.ServiceAccounts)
		case "v1 Secret":
			target = appendNew(&o.Secrets)
		case "v1 ConfigMap":
			target = appendNew(&o.ConfigMaps)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			target = appendNew(&o.ServiceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			target = appendNew(&o.PrometheusRules)
		case "monitoring.coreos.com/v1alpha1 ScrapeConfig":
			target = appendNew(&o.ScrapeConfigs)
		case "networking.k8s.io/v1 NetworkPolicy":
			target = appendNew(&o.NetworkPolicies)
		default:
			return nil, fmt.Errorf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
	}
	return &o, nil
}

func appendNew[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}

func mustDecodeObjects(t *testing.T, name string, data []byte) *objects {
	t.Helper()
	o, err := decodeObjects(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if o.count() == 0 {
		t.Fatalf("%s: no objects", name)
	}
	return o
}

// TestStrictDecodeCatchesUnknownField: the decoding above can fail.
func TestStrictDecodeCatchesUnknownField(t *testing.T) {
	bad := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 1\n      targetPorts: metrics\n")
	if _, err := decodeObjects(bad); err == nil {
		t.Error("a Service with the misspelt field targetPorts decoded without error")
	}
	bad = []byte("apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata:\n  name: x\nspec:\n  httpSDConfig:\n    - url: http://x/sd\n")
	if _, err := decodeObjects(bad); err == nil {
		t.Error("a ScrapeConfig with the misspelt field httpSDConfig decoded without error")
	}
	bad = []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\nspec:\n  ingress:\n    - from:\n        - namespaceSelectors: {}\n")
	if _, err := decodeObjects(bad); err == nil {
		t.Error("a NetworkPolicy with the misspelt field namespaceSelectors decoded without error")
	}
	if _, err := decodeObjects([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")); err == nil {
		t.Error("an unexpected kind decoded without error")
	}
}
