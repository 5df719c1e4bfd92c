{{/* Chart name, cut to 63 characters. */}}
{{- define "sunor-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "sunor-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sunor-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sunor-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sunor-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sunor-exporter.labels" -}}
helm.sh/chart: {{ include "sunor-exporter.chart" . }}
{{ include "sunor-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sunor-exporter
{{- end }}

{{- define "sunor-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sunor-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository:tag, or @digest; the tag defaults to appVersion. */}}
{{- define "sunor-exporter.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the single account's key. */}}
{{- define "sunor-exporter.apiKeySecret" -}}
{{- default (printf "%s-api-key" (include "sunor-exporter.fullname" .)) .Values.apiKey.existingSecret }}
{{- end }}

{{/* The Secret the chart creates for the keys given inline (accounts[].apiKey). */}}
{{- define "sunor-exporter.keysSecret" -}}
{{- printf "%s-keys" (include "sunor-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the exporter reads an accounts file: a list of accounts or a key directory. */}}
{{- define "sunor-exporter.accountsFile" -}}
{{- if or .Values.accounts .Values.keyDirectory.secretName }}true{{ end }}
{{- end }}

{{/*
The file name of accounts[i]'s key in the keys directory, and its key in
the chart's Secret: the account name when it is a plain file name (and a
valid Secret key), else account-INDEX.
*/}}
{{- define "sunor-exporter.keyFile" -}}
{{- $i := index . 0 }}{{ $a := index . 1 }}
{{- if and (regexMatch "^[A-Za-z0-9][-._A-Za-z0-9]*$" (toString $a.name)) (le (len (toString $a.name)) 253) }}
{{- $a.name }}
{{- else }}
{{- printf "account-%d" (int $i) }}
{{- end }}
{{- end }}

{{/*
Checks the accounts list: names present and unique, one key source each,
distinct key file names. Renders nothing.
*/}}
{{- define "sunor-exporter.checkAccounts" -}}
{{- $names := dict }}
{{- $files := dict }}
{{- range $i, $a := .Values.accounts }}
{{- if not $a.name }}
{{- fail (printf "accounts[%d]: every account needs a name (the account label)" (int $i)) }}
{{- end }}
{{- $name := toString $a.name }}
{{- if hasKey $names $name }}
{{- fail (printf "accounts[%d]: the name %q is already the name of accounts[%v]; account names must be unique" (int $i) $name (get $names $name)) }}
{{- end }}
{{- $_ := set $names $name (int $i) }}
{{- if and (not $a.existingSecret) (not $a.apiKey) }}
{{- fail (printf "accounts[%d] (%s): set existingSecret or apiKey" (int $i) $name) }}
{{- end }}
{{- if and $a.existingSecret $a.apiKey }}
{{- fail (printf "accounts[%d] (%s): set existingSecret or apiKey, not both" (int $i) $name) }}
{{- end }}
{{- include "sunor-exporter.checkLabels" (list (printf "accounts[%d] (%s)" (int $i) $name) $a.labels) }}
{{- $file := include "sunor-exporter.keyFile" (list $i $a) }}
{{- if hasKey $files $file }}
{{- fail (printf "accounts[%d] (%s): its key file name %q is that of accounts[%v]; rename one of them" (int $i) $name $file (get $files $file)) }}
{{- end }}
{{- $_ := set $files $file (int $i) }}
{{- end }}
{{- include "sunor-exporter.checkLabels" (list "defaults" (.Values.defaults | default dict).labels) }}
{{- include "sunor-exporter.checkLabels" (list "sunor" .Values.sunor.labels) }}
{{- if and .Values.defaults (not (include "sunor-exporter.accountsFile" .)) }}
{{- fail "defaults: applies to the accounts file: list accounts or set keyDirectory.secretName" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.scrapeConfig.enabled }}
{{- fail "serviceMonitor.enabled and scrapeConfig.enabled: choose one; each scrape job calls the API with every key, so both would spend the keys' budget twice" }}
{{- end }}
{{- end }}

{{/*
Checks owner label names as the exporter does at start-up, naming where
they are: (list WHERE LABELS). The reserved names are refused earlier, by
values.schema.json (definitions.ownerLabels): one list, tested against the
exporter's.
*/}}
{{- define "sunor-exporter.checkLabels" -}}
{{- $where := index . 0 }}
{{- range $name, $_ := index . 1 }}
{{- if not (regexMatch "^[a-zA-Z_][a-zA-Z0-9_]*$" $name) }}
{{- fail (printf "%s: labels: %q is not a valid Prometheus label name" $where $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The keys volume's sources: one Secret projection per Secret, each listing
the keys of the accounts it holds, so that many accounts share one volume.
*/}}
{{- define "sunor-exporter.keySources" -}}
{{- $ctx := . }}
{{- $items := dict }}
{{- $order := list }}
{{- range $i, $a := .Values.accounts }}
{{- $file := include "sunor-exporter.keyFile" (list $i $a) }}
{{- $secret := include "sunor-exporter.keysSecret" $ctx }}
{{- $key := $file }}
{{- if $a.existingSecret }}
{{- $secret = $a.existingSecret }}
{{- $key = $a.secretKey | default "api-key" }}
{{- end }}
{{- if not (hasKey $items $secret) }}
{{- $order = append $order $secret }}
{{- $_ := set $items $secret list }}
{{- end }}
{{- $_ := set $items $secret (append (get $items $secret) (dict "key" $key "path" $file)) }}
{{- end }}
{{- range $order }}
- secret:
    name: {{ . }}
    items:
      {{- toYaml (get $items .) | nindent 6 }}
{{- end }}
{{- end }}

{{/*
A memory quantity (resources.limits.memory) in bytes. Kubernetes allows
more forms than this; the chart takes the usual ones and says so otherwise.
*/}}
{{- define "sunor-exporter.bytes" -}}
{{- $q := . }}
{{- if or (kindIs "float64" $q) (kindIs "int" $q) (kindIs "int64" $q) }}
{{- $q = printf "%d" (int64 $q) }}
{{- end }}
{{- $q = toString $q }}
{{- if not (regexMatch "^[0-9]+([.][0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "resources.limits.memory %q: write it as a number with one of the suffixes Ki, Mi, Gi, Ti, k, M, G, T (e.g. 128Mi), or set goMemLimitRatio: 0" $q) }}
{{- end }}
{{- $units := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 }}
{{- $num := regexReplaceAll "[A-Za-z]+$" $q "" }}
{{- $unit := regexReplaceAll "^[0-9.]+" $q "" }}
{{- mulf (float64 $num) (get $units $unit) }}
{{- end }}

{{/* GOMEMLIMIT in bytes: goMemLimitRatio of the memory limit; empty when not set. */}}
{{- define "sunor-exporter.goMemLimit" -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- if and $limit (gt (float64 .Values.goMemLimitRatio) 0.0) }}
{{- $bytes := include "sunor-exporter.bytes" $limit | float64 }}
{{- printf "%d" (mulf $bytes .Values.goMemLimitRatio | floor | int64) }}
{{- end }}
{{- end }}

{{- define "sunor-exporter.namespace" -}}
{{- .Release.Namespace }}
{{- end }}
