// Command mixin renders the monitoring mixin (mixin/) into the files the
// repository ships: the Prometheus rules, the Grafana dashboard, their
// Helm chart copies and the Kubernetes PrometheusRule (`make mixin`).
//
//	go run ./tools/mixin                  # write them
//	go run ./tools/mixin -check           # exit 1 when one differs
//	go run ./tools/mixin -config '{sunorSelector: "job=\"credits\""}' -out /tmp/credits
package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/sunor-community/sunor_exporter/tools/mixin/render"
)

func main() {
	root := flag.String("root", ".", "the repository's root: mixin/ is read from there")
	out := flag.String("out", "", "write the files under this directory instead of -root")
	config := flag.String("config", "", "a jsonnet object merged into the mixin's _config, e.g. {sunorSelector: 'job=\"credits\"'}")
	check := flag.Bool("check", false, "write nothing; exit 1 naming each file that differs from what the mixin renders")
	flag.Parse()
	if err := run(*root, *out, *config, *check); err != nil {
		fmt.Fprintln(os.Stderr, "mixin:", err)
		os.Exit(1)
	}
}

func run(root, out, config string, check bool) error {
	files, err := render.Render(filepath.Join(root, "mixin"), config)
	if err != nil {
		return err
	}
	if out == "" {
		out = root
	}
	var stale []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(out, name)
		if check {
			if have, err := os.ReadFile(path); err != nil || !bytes.Equal(have, files[name]) {
				stale = append(stale, name)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%v differ from what mixin/ renders: run `make mixin`", stale)
	}
	return nil
}
