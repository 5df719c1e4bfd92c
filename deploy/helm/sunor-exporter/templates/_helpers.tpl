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

{{/* The Secret of accounts[i]: its existingSecret or one the chart creates. */}}
{{- define "sunor-exporter.accountSecret" -}}
{{- $ctx := index . 0 }}{{ $a := index . 1 }}
{{- if $a.existingSecret }}{{ $a.existingSecret }}{{ else }}{{ printf "%s-key-%s" (include "sunor-exporter.fullname" $ctx) ($a.name | lower | replace "_" "-") | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "sunor-exporter.namespace" -}}
{{- .Release.Namespace }}
{{- end }}
