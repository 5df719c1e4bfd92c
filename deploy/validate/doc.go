// Package validate holds no code: its tests check the deployment files
// against the schemas of the programs that read them. The Grafana dashboard
// against Grafana's own schema (grafana-foundation-sdk); the Helm chart's
// rendered objects and the kustomize base against the Kubernetes and
// Prometheus Operator API types, decoded strictly. It is a module of its
// own so that the exporter's go.mod does not pull those libraries.
package validate
