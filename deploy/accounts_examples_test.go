package deploy

// The several-accounts examples of systemd, docker-compose and kustomize:
// each account's key is a file the deployment provides, and the accounts
// file is one the exporter accepts at start-up (--config.check).

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// checkAccountsFile checks an example accounts file: every account reads
// its key from a file the deployment provides (provided says which), and
// the exporter's --config.check accepts the file once those paths lead to
// key files. It returns the accounts' names.
func checkAccountsFile(t *testing.T, where, content string, provided func(keyPath string) bool) []string {
	t.Helper()
	var file struct {
		Accounts []struct {
			Name       string `yaml:"name"`
			APIKeyFile string `yaml:"api_key_file"`
		} `yaml:"accounts"`
	}
	if err := yaml.Unmarshal([]byte(content), &file); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if len(file.Accounts) < 2 {
		t.Fatalf("%s: %d accounts, want several", where, len(file.Accounts))
	}
	dir := t.TempDir()
	var names []string
	for i, a := range file.Accounts {
		names = append(names, a.Name)
		if a.APIKeyFile == "" || !provided(a.APIKeyFile) {
			t.Errorf("%s: account %q reads its key from %q, which the deployment does not provide", where, a.Name, a.APIKeyFile)
			continue
		}
		key := filepath.Join(dir, fmt.Sprintf("key-%d", i))
		if err := os.WriteFile(key, []byte("sk-example-"+a.Name), 0o600); err != nil {
			t.Fatal(err)
		}
		content = strings.ReplaceAll(content, ": "+a.APIKeyFile+"\n", ": "+key+"\n")
	}
	cfg := filepath.Join(dir, "sunor.yml")
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testtool.ExporterBinary(t), "--config.check", "--config.file="+cfg)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUNOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if code, out := testtool.Run(t, cmd, time.Minute); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("%s: --config.check: exit %d\n%s", where, code, out)
	}
	return names
}

// TestSystemdSeveralAccounts: the drop-in runs the exporter on the accounts
// file sunor.yml instead of one key, and every account's key is a
// credential the unit or the drop-in loads. systemd-analyze verifies the
// unit together with the drop-in in TestSystemdUnit (it reads the drop-in
// directory next to the unit).
func TestSystemdSeveralAccounts(t *testing.T) {
	unit, _ := os.ReadFile("systemd/sunor_exporter.service")
	dropIn, err := os.ReadFile("systemd/sunor_exporter.service.d/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecReload=/bin/kill -HUP $MAINPID\n") {
		t.Error("the unit has no ExecReload= sending SIGHUP")
	}
	d := string(dropIn)
	if !strings.Contains(d, "\nExecStart=\n") {
		t.Error("the drop-in does not reset the unit's ExecStart= before its own")
	}
	if !strings.Contains(d, "--config.file=/etc/sunor_exporter/sunor.yml") || strings.Contains(d, "--sunor.api-key-file") {
		t.Error("the drop-in's ExecStart= must read --config.file=/etc/sunor_exporter/sunor.yml and no single key")
	}
	loaded := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^LoadCredential=([\w.-]+):/`).FindAllStringSubmatch(string(unit)+"\n"+d, -1) {
		loaded[m[1]] = true
	}
	content, err := os.ReadFile("systemd/sunor.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkAccountsFile(t, "systemd/sunor.yml", string(content), func(p string) bool {
		id, ok := strings.CutPrefix(p, "/run/credentials/sunor_exporter.service/")
		return ok && loaded[id]
	})
}

// TestComposeSeveralAccounts: docker-compose.accounts.yml on top of
// docker-compose.yml gives the exporter an accounts file, and every
// account's key is a secret of the exporter, each from its own file.
func TestComposeSeveralAccounts(t *testing.T) {
	type service struct {
		Command []string `yaml:"command"`
		Configs []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"configs"`
		Secrets []string `yaml:"secrets"`
	}
	type composeFile struct {
		Services map[string]service `yaml:"services"`
		Configs  map[string]struct {
			Content string `yaml:"content"`
		} `yaml:"configs"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	var base struct { // the fake's command is a string: only the secrets here
		Services map[string]struct {
			Secrets []string `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	var over composeFile
	readYAMLLoose(t, "docker-compose.yml", &base)
	readYAMLLoose(t, "docker-compose.accounts.yml", &over)
	ex := over.Services["sunor-exporter"]
	if slices.ContainsFunc(ex.Command, func(a string) bool { return strings.HasPrefix(a, "--sunor.api-key-file") }) {
		t.Errorf("the override's command %v still names a single key", ex.Command)
	}
	var content string
	for _, c := range ex.Configs {
		if slices.Contains(ex.Command, "--config.file="+c.Target) {
			content = over.Configs[c.Source].Content
		}
	}
	if content == "" {
		t.Fatalf("the override's command %v names no accounts file among its configs %+v", ex.Command, ex.Configs)
	}
	// Compose merges the service's secrets lists and the top-level secrets.
	secrets := append(base.Services["sunor-exporter"].Secrets, ex.Secrets...)
	files := map[string]string{}
	for name, s := range base.Secrets {
		files[name] = s.File
	}
	for name, s := range over.Secrets {
		files[name] = s.File
	}
	seen := map[string]bool{}
	checkAccountsFile(t, "docker-compose.accounts.yml", content, func(p string) bool {
		name, ok := strings.CutPrefix(p, "/run/secrets/")
		if !ok || !slices.Contains(secrets, name) || files[name] == "" || seen[files[name]] {
			return false
		}
		seen[files[name]] = true // each key its own file
		return true
	})
}

// kustomizeBuild renders a kustomization with kustomize, or kubectl's.
func kustomizeBuild(t *testing.T, dir string) string {
	t.Helper()
	if p, err := exec.LookPath("kustomize"); err == nil {
		return run(t, p, "build", dir)
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return run(t, p, "kustomize", dir)
	}
	return run(t, tool(t, "kustomize", "kustomize (go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1)"), "build", dir)
}

// TestKustomizeSeveralAccounts: the overlay kubernetes-accounts renders a
// Deployment that reads the accounts file from the ConfigMap it generates,
// and every account's key is an entry of the mounted Secret that the
// overlay's instructions create.
func TestKustomizeSeveralAccounts(t *testing.T) {
	out := kustomizeBuild(t, "kubernetes-accounts")
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args         []string `yaml:"args"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name   string `yaml:"name"`
						Secret *struct {
							SecretName string `yaml:"secretName"`
							Items      []any  `yaml:"items"`
						} `yaml:"secret"`
						ConfigMap *struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	configMaps := map[string]map[string]string{}
	var deployments []object
	for _, doc := range strings.Split(out, "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("kustomize's output: %v", err)
		}
		switch o.Kind {
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		case "Deployment":
			deployments = append(deployments, o)
		}
	}
	if len(deployments) != 1 || len(deployments[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one Deployment with one container:\n%s", out)
	}
	pod := deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	// mounted returns the volume mounted at dir.
	mounted := func(dir string) (string, bool) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == dir {
				return m.Name, true
			}
		}
		return "", false
	}
	var content string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--sunor.api-key-file") {
			t.Errorf("the container still names a single key: %s", a)
		}
		cfg, ok := strings.CutPrefix(a, "--config.file=")
		if !ok {
			continue
		}
		vol, ok := mounted(path.Dir(cfg))
		for _, v := range pod.Volumes {
			if ok && v.Name == vol && v.ConfigMap != nil {
				content = configMaps[v.ConfigMap.Name][path.Base(cfg)]
			}
		}
	}
	if content == "" {
		t.Fatalf("the container's args %v name no accounts file in a mounted ConfigMap", c.Args)
	}
	// The keys the overlay's instructions put into the Secret.
	kust, _ := os.ReadFile("kubernetes-accounts/kustomization.yaml")
	create := regexp.MustCompile(`kubectl create secret generic ([\w-]+)((?:\s+(?:\\\s*)?(?:#\s*)?--from-file=[\w.-]+=\S+)+)`).FindStringSubmatch(string(kust))
	if create == nil {
		t.Fatal("kubernetes-accounts/kustomization.yaml does not say how to create the Secret of the keys")
	}
	var entries []string
	for _, m := range regexp.MustCompile(`--from-file=([\w.-]+)=`).FindAllStringSubmatch(create[2], -1) {
		entries = append(entries, m[1])
	}
	checkAccountsFile(t, "kubernetes-accounts/sunor.yml", content, func(p string) bool {
		vol, ok := mounted(path.Dir(p))
		for _, v := range pod.Volumes {
			if ok && v.Name == vol && v.Secret != nil && v.Secret.SecretName == create[1] && len(v.Secret.Items) == 0 {
				return slices.Contains(entries, path.Base(p))
			}
		}
		return false
	})
}
