{{/* The chart name, or nameOverride. */}}
{{- define "stocksync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: release-chart, or the release alone when it already
holds the chart name; fullnameOverride wins. At most 63 characters. */}}
{{- define "stocksync.fullname" -}}
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

{{/* The headless Service that governs the StatefulSet. */}}
{{- define "stocksync.headless" -}}
{{- printf "%s-peers" (include "stocksync.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stocksync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stocksync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "stocksync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stocksync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stocksync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "stocksync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stocksync
{{- end }}

{{/* Where the pod finds its configuration and secrets. */}}
{{- define "stocksync.configDir" -}}/etc/stocksync{{- end }}
{{- define "stocksync.kafkaDir" -}}/etc/stocksync/kafka{{- end }}
{{- define "stocksync.channelsDir" -}}/etc/stocksync/channels{{- end }}
{{- define "stocksync.tokensDir" -}}/etc/stocksync/tokens{{- end }}
{{- define "stocksync.dataDir" -}}/var/lib/stocksync{{- end }}

{{/* Channels whose endpoint names a tokenSecret. */}}
{{- define "stocksync.channelSecrets" -}}
{{- range .Values.channels }}
{{- if and .endpoint .endpoint.tokenSecret }}
- secret:
    name: {{ required (printf "channels[%s].endpoint.tokenSecret.name is required" .name) .endpoint.tokenSecret.name }}
    items:
      - key: {{ required (printf "channels[%s].endpoint.tokenSecret.key is required" .name) .endpoint.tokenSecret.key }}
        path: {{ .name }}/token
{{- end }}
{{- end }}
{{- end }}

{{/* Kafka TLS and SASL files, from their Secrets. */}}
{{- define "stocksync.kafkaSecrets" -}}
{{- $k := .Values.kafka }}
{{- if and $k.tls.enabled $k.tls.existingSecret }}
{{- $items := list }}
{{- if $k.tls.caKey }}{{ $items = append $items (dict "key" $k.tls.caKey "path" "ca.crt") }}{{ end }}
{{- if $k.tls.certKey }}{{ $items = append $items (dict "key" $k.tls.certKey "path" "tls.crt") }}{{ end }}
{{- if $k.tls.keyKey }}{{ $items = append $items (dict "key" $k.tls.keyKey "path" "tls.key") }}{{ end }}
{{- if $items }}
- secret:
    name: {{ $k.tls.existingSecret }}
    items:
      {{- toYaml $items | nindent 6 }}
{{- end }}
{{- end }}
{{- if $k.sasl.mechanism }}
- secret:
    name: {{ required "kafka.sasl.existingSecret is required with kafka.sasl.mechanism" $k.sasl.existingSecret }}
    items:
      - key: {{ $k.sasl.passwordKey }}
        path: sasl-password
{{- end }}
{{- end }}
