#!/usr/bin/env bash
# Copies the rules and the dashboard into the Helm chart, which cannot read
# files outside its directory. deploy/validate fails when the copies differ
# from these sources: run this (or `make helm-sync`) after changing them.
set -euo pipefail
cd "$(dirname "$0")/.."
cp prometheus/rules/sunor.rules.yml helm/sunor-exporter/files/sunor.rules.yml
cp grafana/dashboards/sunor.json helm/sunor-exporter/files/sunor.json
