{{/* Names, labels and small shared fragments. */}}

{{- define "hybridcloud.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridcloud.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hybridcloud.operatorName" -}}
{{- printf "%s-operator" (include "hybridcloud.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridcloud.apiName" -}}
{{- printf "%s-api" (include "hybridcloud.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridcloud.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "hybridcloud.operatorName" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hybridcloud.apiServiceAccount" -}}
{{- if .Values.api.serviceAccount.create -}}
{{- default (include "hybridcloud.apiName" .) .Values.api.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.api.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Where the operator keeps its own copy of each member credential (tenants must not be able
    to write there); the API reads the same namespace, so one value configures both. */}}
{{- define "hybridcloud.memberCredentialsNamespace" -}}
{{- .Values.operator.config.memberCredentialsNamespace | default .Release.Namespace -}}
{{- end -}}

{{/* Recommended app.kubernetes.io labels; pass (list $ "component"). */}}
{{- define "hybridcloud.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hybridcloud.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: hybridcloud
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Immutable selector labels; pass (list $ "component"). */}}
{{- define "hybridcloud.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "hybridcloud.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "hybridcloud.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Settings as environment variables: (list "PREFIX_" $config). A camelCase key becomes
PREFIX_SNAKE_CASE, the name pydantic-settings reads; strings pass through, everything else is
JSON (pydantic-settings parses JSON for numbers, booleans, maps and lists).
*/}}
{{- define "hybridcloud.settingsEnv" -}}
{{- $prefix := index . 0 -}}
{{- $config := index . 1 -}}
{{- range $key := keys $config | sortAlpha }}
{{- $value := get $config $key }}
- name: {{ printf "%s%s" $prefix ($key | snakecase | upper) }}
  value: {{ (ternary $value (toJson $value) (kindIs "string" $value)) | quote }}
{{- end }}
{{- end -}}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "hybridcloud.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{/* The API's separate /metrics port (HYBRIDCLOUD_API_METRICS_PORT); 9090 unless configured. */}}
{{- define "hybridcloud.apiMetricsPort" -}}
{{- .Values.api.config.metricsPort | default 9090 -}}
{{- end -}}

{{- /* The operator's /metrics port (operator metrics section): operator.config.metricsPort,
       else 8081; the chart always serves it, on the pod network. */}}
{{- define "hybridcloud.operatorMetricsPort" -}}
{{- .Values.operator.config.metricsPort | default 8081 -}}
{{- end -}}

{{- /* Egress of both workloads: anywhere (the apiserver, cloud APIs, git and Helm hosts, member
       clusters, in-cluster DNS) except egressDeniedCIDRs — the instance-metadata endpoints, whose
       node credentials a tenant could reach by naming them as a git, chart or cluster URL. */}}
{{- define "hybridcloud.egress" -}}
{{- $v4 := list }}{{- $v6 := list }}
{{- range .Values.networkPolicy.egressDeniedCIDRs }}
{{- if contains ":" . }}{{ $v6 = append $v6 . }}{{ else }}{{ $v4 = append $v4 . }}{{ end }}
{{- end }}
egress:
  - to:
      # Pods in any namespace (cluster DNS, in-cluster git or chart servers).
      - namespaceSelector: {}
      - ipBlock:
          cidr: 0.0.0.0/0
          {{- with $v4 }}
          except: {{ toJson . }}
          {{- end }}
      - ipBlock:
          cidr: ::/0
          {{- with $v6 }}
          except: {{ toJson . }}
          {{- end }}
{{- end }}
