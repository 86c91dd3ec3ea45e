{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "credit-scoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: "<release>-<chart>" unless the release name already contains the chart
name. Truncated to 63 characters.
*/}}
{{- define "credit-scoring.fullname" -}}
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

{{/*
"chart-version" label value.
*/}}
{{- define "credit-scoring.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels (every resource).
*/}}
{{- define "credit-scoring.labels" -}}
helm.sh/chart: {{ include "credit-scoring.chart" . }}
{{ include "credit-scoring.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: credit-scoring
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (stable across upgrades: never add version-like values here).
*/}}
{{- define "credit-scoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "credit-scoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Per-component labels. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "credit-scoring.componentLabels" -}}
{{ include "credit-scoring.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "credit-scoring.componentSelectorLabels" -}}
{{ include "credit-scoring.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Resource names.
*/}}
{{- define "credit-scoring.api.deploymentName" -}}
{{- default (printf "%s-api" (include "credit-scoring.fullname" .)) .Values.api.deploymentName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credit-scoring.api.serviceName" -}}
{{- printf "%s-api" (include "credit-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credit-scoring.api.configMapName" -}}
{{- printf "%s-api" (include "credit-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credit-scoring.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (printf "%s-api" (include "credit-scoring.fullname" .)) .Values.api.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "credit-scoring.mlflow.fullname" -}}
{{- printf "%s-mlflow" (include "credit-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credit-scoring.mlflow.serviceAccountName" -}}
{{- if .Values.mlflow.serviceAccount.create }}
{{- default (include "credit-scoring.mlflow.fullname" .) .Values.mlflow.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.mlflow.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "credit-scoring.mlflow.pvcName" -}}
{{- default (printf "%s-artifacts" (include "credit-scoring.mlflow.fullname" .)) .Values.mlflow.artifacts.persistence.existingClaim }}
{{- end }}

{{- define "credit-scoring.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "credit-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
In-cluster MLflow tracking URI seen by the API (or the external one).
*/}}
{{- define "credit-scoring.trackingUri" -}}
{{- if .Values.mlflow.enabled }}
{{- printf "http://%s:%d" (include "credit-scoring.mlflow.fullname" .) (int .Values.mlflow.service.port) }}
{{- else }}
{{- required "api.externalTrackingUri is required when mlflow.enabled is false" .Values.api.externalTrackingUri }}
{{- end }}
{{- end }}

{{/*
Host headers MLflow accepts: its service under every in-cluster DNS form, with and without the
port, localhost on any port (in-pod checks, kubectl port-forward) and the MLflow ingress host.
*/}}
{{- define "credit-scoring.mlflow.allowedHosts" -}}
{{- $svc := include "credit-scoring.mlflow.fullname" . }}
{{- $port := int .Values.mlflow.service.port }}
{{- $hosts := list "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*" }}
{{- range $name := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) }}
{{- $hosts = append $hosts $name }}
{{- $hosts = append $hosts (printf "%s:%d" $name $port) }}
{{- end }}
{{- if .Values.mlflow.ingress.enabled }}
{{- $hosts = append $hosts .Values.mlflow.ingress.host }}
{{- end }}
{{- range .Values.mlflow.allowedHosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- join "," ($hosts | uniq) }}
{{- end }}

{{/*
Image reference: repository:tag, or repository@digest when a digest is set. An empty tag means the
release images of the chart's appVersion: `prod-v<appVersion>` (what release.yml publishes for the
tag v<appVersion>, when it packages the chart with that appVersion).
Call with (dict "image" .Values.image "ctx" $).
*/}}
{{- define "credit-scoring.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default (printf "prod-v%s" .ctx.Chart.AppVersion) .image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Hardened pod-level securityContext (uid 10001, images' non-root user).
*/}}
{{- define "credit-scoring.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Hardened container securityContext.
*/}}
{{- define "credit-scoring.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Env of the MLflow server and the migration job: the backend store URI is read from a file of the
mounted existingSecret (never an env var or an argument), HOME on the writable /tmp.
*/}}
{{- define "credit-scoring.mlflow.env" -}}
- name: HOME
  value: /tmp
- name: MLFLOW_BACKEND_STORE_URI_FILE
  value: /etc/mlflow/secrets/backend-store-uri
{{- with .Values.mlflow.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The secret volume holding the MLflow backend store URI (server and migration job).
*/}}
{{- define "credit-scoring.mlflow.secretVolume" -}}
- name: mlflow-secrets
  secret:
    secretName: {{ .Values.existingSecret }}
    # 0440: readable by the pod's group (fsGroup 10001), nobody else.
    defaultMode: 288
    items:
      - key: {{ .Values.secretKeys.mlflowBackendStoreUri }}
        path: backend-store-uri
{{- end }}
