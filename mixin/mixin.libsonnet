// sunor_exporter's monitoring mixin: its alerts, recording rules and
// Grafana dashboard. docs/mixin.md tells how to import and render it;
// `make mixin` renders the repository's own copies from it.
(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet') +
{
  // One group, recording rules first: rules in a group are evaluated in
  // order, so the alerts always see this evaluation's recorded series. In
  // separate groups they could read the previous evaluation's, and fire or
  // resolve an evaluation late. So the whole group is in prometheusAlerts,
  // and prometheusRules holds no group of its own: whoever loads both (as
  // kube-prometheus does) or only the alerts gets every rule once.
  prometheusAlerts+:: {
    groups+: [
      {
        name: 'sunor',
        rules: $.sunorRecordingRules + $.sunorAlerts,
      },
    ],
  },
  prometheusRules+:: {
    groups+: [],
  },
}
