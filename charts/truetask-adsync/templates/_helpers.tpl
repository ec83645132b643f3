{{/*
The chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "truetask-adsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name when it already contains the chart name, else
"<release>-<chart>"; fullnameOverride wins.
*/}}
{{- define "truetask-adsync.fullname" -}}
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

{{- define "truetask-adsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "truetask-adsync.labels" -}}
helm.sh/chart: {{ include "truetask-adsync.chart" . }}
{{ include "truetask-adsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: truetask-adsync
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (immutable on the Deployment: never add values to them).
*/}}
{{- define "truetask-adsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "truetask-adsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "truetask-adsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "truetask-adsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "truetask-adsync.leaseName" -}}
{{- default (printf "%s-leader" (include "truetask-adsync.fullname" .)) .Values.leaderElection.id }}
{{- end }}

{{- define "truetask-adsync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The rules the controller uses, and nothing more: the same as deploy/base/rbac.yaml
(test/kube/controller.test.ts proves them minimal; test/kube/chart.test.ts proves
the chart grants exactly these).
*/}}
{{- define "truetask-adsync.controllerRules" -}}
# Watch AdSyncs and write their status (never their spec).
- apiGroups: ["truetask.io"]
  resources: ["adsyncs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["truetask.io"]
  resources: ["adsyncs/status"]
  verbs: ["get", "patch"]
# Read the bind password, API token and CA bundles with get, at each run (no list/watch).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# One event per run.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "truetask-adsync.metricsServiceEnabled" -}}
{{- if or .Values.metrics.service.enabled .Values.serviceMonitor.enabled }}true{{- end }}
{{- end }}

{{/*
Refuses value combinations that cannot work, with a message that says what to fix.
*/}}
{{- define "truetask-adsync.validate" -}}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail "leaderElection.enabled=false needs replicaCount: 1 (two replicas without leader election would both run syncs)" }}
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{- if not .Values.networkPolicy.directory.cidrs }}
{{- fail "networkPolicy.enabled needs networkPolicy.directory.cidrs: the addresses of your domain controllers (e.g. [\"10.0.10.14/32\"])" }}
{{- end }}
{{- if and (not .Values.networkPolicy.truetask.cidrs) (not .Values.networkPolicy.extraEgress) }}
{{- fail "networkPolicy.enabled needs networkPolicy.truetask.cidrs (Truetask's addresses), or an extraEgress rule that allows Truetask" }}
{{- end }}
{{- end }}
{{- range .Values.watchNamespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name" .) }}
{{- end }}
{{- end }}
{{- end }}
