package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const kustomizeDir = "../kubernetes"

// kustomization is the part of kustomize's Kustomization this project uses;
// decoded strictly, so a field outside it is noticed here.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
		Digest  string `json:"digest"`
	} `json:"images"`
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	var k kustomization
	if err := yaml.UnmarshalStrict(mustRead(t, filepath.Join(kustomizeDir, "kustomization.yaml")), &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	return k
}

// TestKustomizeBaseStrict: every resource of the kustomize base decodes
// strictly into its Kubernetes or Prometheus Operator type (as written:
// kustomize only adds labels and sets the image), the Service selects the
// pod, and the image the Deployment names is the one the kustomization
// rewrites. What the objects say (key file, probes, security) is checked in
// deploy/deploy_test.go.
func TestKustomizeBaseStrict(t *testing.T) {
	k := readKustomization(t)
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("kustomization %+v", k)
	}
	var all objects
	for _, r := range k.Resources {
		o := mustDecodeObjects(t, r, mustRead(t, filepath.Join(kustomizeDir, r)))
		all.Deployments = append(all.Deployments, o.Deployments...)
		all.Services = append(all.Services, o.Services...)
		all.ServiceMonitors = append(all.ServiceMonitors, o.ServiceMonitors...)
		all.PrometheusRules = append(all.PrometheusRules, o.PrometheusRules...)
	}
	if len(all.Deployments) != 1 || len(all.Services) != 1 || len(all.ServiceMonitors) != 1 || len(all.PrometheusRules) != 1 {
		t.Fatalf("%d Deployments, %d Services, %d ServiceMonitors, %d PrometheusRules",
			len(all.Deployments), len(all.Services), len(all.ServiceMonitors), len(all.PrometheusRules))
	}
	pod := all.Deployments[0].Spec.Template.Spec
	checkService(t, &all)
	img := pod.Containers[0].Image
	if len(k.Images) != 1 || k.Images[0].Name != img {
		t.Errorf("the Deployment's image %q is not the one the kustomization sets (%+v)", img, k.Images)
	}
}

// TestImagePinsMatchVersion: the kustomize base, the compose file and the
// Helm chart all name the image of this release, the VERSION file's, never
// `latest`.
func TestImagePinsMatchVersion(t *testing.T) {
	v := version(t)
	k := readKustomization(t)
	if len(k.Images) != 1 || k.Images[0].NewTag != v {
		t.Errorf("deploy/kubernetes/kustomization.yaml pins %+v, want newTag %s (VERSION)", k.Images, v)
	}

	var compose struct {
		Services map[string]struct {
			Image string `json:"image"`
			Build struct {
				Args map[string]string `json:"args"`
			} `json:"build"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(mustRead(t, "../docker-compose.yml"), &compose); err != nil {
		t.Fatal(err)
	}
	ex := compose.Services["sunor-exporter"]
	if ex.Image != imageRepo+":"+v || ex.Build.Args["VERSION"] != v {
		t.Errorf("docker-compose.yml: image %q, build arg VERSION %q; want %s:%s and %s", ex.Image, ex.Build.Args["VERSION"], imageRepo, v, v)
	}

	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(mustRead(t, chartDir+"/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != v {
		t.Errorf("Chart.yaml appVersion %q, want %s (VERSION)", chart.AppVersion, v)
	}

	// No deployment file pulls a floating tag of the exporter.
	_ = filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		b, _ := os.ReadFile(p)
		s := string(b)
		if strings.Contains(s, "sunor_exporter:latest") || (strings.Contains(s, "sunor_exporter") && strings.Contains(s, "newTag: latest")) {
			t.Errorf("%s pins the exporter image to latest", p)
		}
		return nil
	})
}
