{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "runwisp-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name if it already contains the chart name. */}}
{{- define "runwisp-operator.fullname" -}}
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

{{- define "runwisp-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; app.kubernetes.io/instance finds what a release left behind. */}}
{{- define "runwisp-operator.labels" -}}
helm.sh/chart: {{ include "runwisp-operator.chart" . }}
{{ include "runwisp-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: runwisp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "runwisp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "runwisp-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "runwisp-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "runwisp-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "runwisp-operator.leaseName" -}}
{{- default (include "runwisp-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "runwisp-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Checks that the schema cannot express; included by the Deployment so `helm template`, `install`
and `upgrade` all fail early with an explanation.
*/}}
{{- define "runwisp-operator.validate" -}}
{{- if gt (len .Values.watchNamespaces) 1 }}
{{- fail (printf "watchNamespaces lists %d namespaces, but the operator watches either every namespace (watchNamespaces: []) or exactly one (--namespace). Install one release per namespace instead, each with its own leaderElection.leaseName (the CRDs are shared)." (len .Values.watchNamespaces)) }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled: true (otherwise every replica reconciles)" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not (and .Values.metrics.service.enabled (gt (int .Values.admin.port) 0))) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled and a fixed admin.port (not 0)" }}
{{- end }}
{{- if ne (empty .Values.kubernetesService.host) (empty (toString .Values.kubernetesService.port)) }}
{{- fail "set both kubernetesService.host and kubernetesService.port, or neither" }}
{{- end }}
{{- end }}

{{/*
Rules of the operator's ClusterRole, or of its Role in the watched namespace. Least privilege:
exactly what the operator calls. It never lists or watches Secrets (it GETs the one named by a
notifier's webhookUrlSecretRef), never updates a task's spec, and writes task status with
server-side apply (patch).
*/}}
{{- define "runwisp-operator.rules" -}}
- apiGroups: ["runwisp.dev"]
  resources: ["runwisptasks", "runwispnotifiers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["runwisp.dev"]
  resources: ["runwisptasks/status"]
  verbs: ["patch"]
- apiGroups: ["runwisp.dev"]
  resources: ["runwispruns"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["runwisp.dev"]
  resources: ["runwispruns/status"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
