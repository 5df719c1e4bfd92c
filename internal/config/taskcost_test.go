package config

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestTaskCost: task_cost comes from an entry, else defaults:, else
// --sunor.task-cost (10, a music clip), and is checked like the other
// per-account numbers, in the same one-line error format.
func TestTaskCost(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	p := write(t, `defaults:
  task_cost: 5
accounts:
  - {name: lyrics, api_key_env: K}
  - {name: uploads, api_key_env: K, task_cost: 1}
`)
	accts, _, err := Accounts(p, "", flags())
	if err != nil {
		t.Fatal(err)
	}
	if accts[0].TaskCost != 5 || accts[1].TaskCost != 1 {
		t.Errorf("task_cost: defaults: gives %v, the entry's own %v; want 5 and 1", accts[0].TaskCost, accts[1].TaskCost)
	}
	p = write(t, "accounts:\n  - {name: music, api_key_env: K}\n")
	if accts, _, err := Accounts(p, "", flags()); err != nil || accts[0].TaskCost != 10 {
		t.Errorf("task_cost from the flag = %v (err %v), want 10", accts, err)
	}

	const a = "accounts:\n  - name: a\n    api_key_env: K\n"
	for name, tc := range map[string]struct{ file, want string }{
		"zero":          {a + "    task_cost: 0\n", "sunor.yml:4: accounts[0] (a): task_cost: must be positive (credits one task costs; a music clip is 10), got 0"},
		"negative":      {a + "    task_cost: -10\n", "sunor.yml:4: accounts[0] (a): task_cost: must be positive (credits one task costs; a music clip is 10), got -10"},
		"NaN":           {a + "    task_cost: .nan\n", "sunor.yml:4: accounts[0] (a): task_cost: must be a number, got NaN"},
		"not a number":  {a + "    task_cost: ten\n", `sunor.yml:4: accounts[0] (a): task_cost: wants a number such as 500, got "ten"`},
		"zero defaults": {"defaults:\n  task_cost: 0\n" + a, "sunor.yml:2: defaults: task_cost: must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			p := write(t, tc.file)
			_, _, err := Accounts(p, "", flags())
			if err == nil || !strings.HasPrefix(strings.TrimPrefix(err.Error(), filepath.Dir(p)+string(filepath.Separator)), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line starting %q", err, tc.want)
			}
		})
	}
	for name, tc := range map[string]struct {
		cost float64
		want string
	}{
		"zero flag":     {0, "--sunor.task-cost: must be positive (credits one task costs; a music clip is 10), got 0"},
		"negative flag": {-1, "--sunor.task-cost: must be positive (credits one task costs; a music clip is 10), got -1"},
		"infinite flag": {math.Inf(1), "--sunor.task-cost: must be a number, got +Inf"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvAPIKey, "k")
			f := flags()
			f.TaskCost = tc.cost
			if _, _, err := Accounts("", "", f); err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
