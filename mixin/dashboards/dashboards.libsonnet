// The mixin's dashboards, by file name.
{
  grafanaDashboards+:: {
    'sunor.json': (import 'sunor.libsonnet')($._config),
  },
}
