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
Tracking URI of the API and the trainer: this release's MLflow, api.externalTrackingUri, or the
MLflow of the platform release named by `registry`.
*/}}
{{- define "credit-scoring.trackingUri" -}}
{{- if .Values.mlflow.enabled }}
{{- printf "http://%s:%d" (include "credit-scoring.mlflow.fullname" .) (int .Values.mlflow.service.port) }}
{{- else if .Values.api.externalTrackingUri }}
{{- .Values.api.externalTrackingUri }}
{{- else if and .Values.registry.release .Values.registry.namespace }}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "credit-scoring.registry.mlflowService" .) .Values.registry.namespace (int .Values.mlflow.service.port) }}
{{- else }}
{{- fail "mlflow.enabled is false: set registry.release and registry.namespace (the platform release holding MLflow) or api.externalTrackingUri" }}
{{- end }}
{{- end }}

{{/*
MLflow Service name of the platform release `registry.release` (this chart's naming rule).
*/}}
{{- define "credit-scoring.registry.mlflowService" -}}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- $full := .Values.registry.release }}
{{- if not (contains $name .Values.registry.release) }}
{{- $full = printf "%s-%s" .Values.registry.release $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- printf "%s-mlflow" $full | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
NetworkPolicy peer: the MLflow pods this release's clients (API, trainer) talk to. Empty when the
MLflow is outside the cluster (api.externalTrackingUri).
*/}}
{{- define "credit-scoring.mlflowPeer" -}}
{{- if .Values.mlflow.enabled }}
- podSelector:
    matchLabels:
      {{- include "credit-scoring.componentSelectorLabels" (dict "ctx" . "component" "mlflow") | nindent 6 }}
{{- else if and .Values.registry.release .Values.registry.namespace (not .Values.api.externalTrackingUri) }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Values.registry.namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ include "credit-scoring.name" . }}
      app.kubernetes.io/instance: {{ .Values.registry.release }}
      app.kubernetes.io/component: mlflow
{{- end }}
{{- end }}

{{- define "credit-scoring.trainer.fullname" -}}
{{- printf "%s-training" (include "credit-scoring.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "credit-scoring.trainer.serviceAccountName" -}}
{{- if .Values.training.serviceAccount.create }}
{{- default (printf "%s-trainer" (include "credit-scoring.fullname" .)) .Values.training.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.training.serviceAccount.name }}
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
{{- if .Values.mlflow.metrics.enabled }}
{{- /* Prometheus scrapes /metrics with the pod IP as Host: the private ranges MLflow itself allows by default. */}}
{{- $hosts = concat $hosts (list "10.*" "192.168.*") }}
{{- range $i := until 16 }}
{{- $hosts = append $hosts (printf "172.%d.*" (add 16 $i)) }}
{{- end }}
{{- end }}
{{- range .Values.mlflow.allowedHosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- join "," ($hosts | uniq) }}
{{- end }}

{{/*
Image reference: repository:tag, or repository@digest when a digest is set. An empty repository
means <imageRegistry>/<name> (the images release.yml publishes); an empty tag means the release
images of the chart's appVersion: `prod-v<appVersion>` (what release.yml publishes for the tag
v<appVersion>, when it packages the chart with that appVersion).
Call with (dict "image" .Values.image "name" "credit-scoring-api" "ctx" $); without "name" the
repository must be set (third-party images).
*/}}
{{- define "credit-scoring.image" -}}
{{- $repo := .image.repository }}
{{- if and (not $repo) .name }}
{{- $repo = printf "%s/%s" (required "imageRegistry is required" .ctx.Values.imageRegistry | trimSuffix "/") .name }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default (printf "prod-v%s" .ctx.Chart.AppVersion) .image.tag | toString) }}
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
{{- with .Values.mlflow.artifacts.s3EndpointUrl }}
- name: MLFLOW_S3_ENDPOINT_URL
  value: {{ . | quote }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ . | quote }}
{{- end }}
{{- with .Values.mlflow.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The secret volume holding the MLflow backend store URI (server and migration job) and, for the
server with registry access control (call with (dict "ctx" $ "auth" true)), the auth store URI,
the admin password and the Flask secret.
*/}}
{{- define "credit-scoring.mlflow.secretVolume" -}}
{{- $ctx := .ctx -}}
- name: mlflow-secrets
  secret:
    secretName: {{ $ctx.Values.existingSecret }}
    # 0440: readable by the pod's group (fsGroup 10001), nobody else.
    defaultMode: 288
    items:
      - key: {{ $ctx.Values.secretKeys.mlflowBackendStoreUri }}
        path: backend-store-uri
      {{- if .auth }}
      - key: {{ $ctx.Values.secretKeys.mlflowAuthDatabaseUri }}
        path: auth-database-uri
      - key: {{ $ctx.Values.secretKeys.mlflowAdminPassword }}
        path: admin-password
      - key: {{ $ctx.Values.secretKeys.mlflowFlaskSecretKey }}
        path: flask-secret-key
      {{- end }}
{{- end }}

{{/*
Env of the MLflow server's basic-auth app (registry access control): every secret is a file of
the mounted existingSecret, read by the image's entrypoint.
*/}}
{{- define "credit-scoring.mlflow.authEnv" -}}
- name: MLFLOW_AUTH_DATABASE_URI_FILE
  value: /etc/mlflow/secrets/auth-database-uri
- name: MLFLOW_AUTH_ADMIN_USERNAME
  value: {{ .Values.mlflow.auth.adminUsername | quote }}
- name: MLFLOW_AUTH_ADMIN_PASSWORD_FILE
  value: /etc/mlflow/secrets/admin-password
- name: MLFLOW_FLASK_SERVER_SECRET_KEY_FILE
  value: /etc/mlflow/secrets/flask-secret-key
{{- end }}

{{/*
A registry client's identity (API: the reader; trainer: the writer) as settings of the
application: the username and the file of the mounted secret holding the password. Call with
(dict "ctx" $ "role" "reader"|"writer"); keys of a ConfigMap's data.
*/}}
{{- define "credit-scoring.registryIdentityConfig" -}}
{{- $auth := .ctx.Values.mlflow.auth -}}
CREDIT_SCORING_REGISTRY_USERNAME: {{ ternary $auth.writerUsername $auth.readerUsername (eq .role "writer") | quote }}
CREDIT_SCORING_REGISTRY_PASSWORD_FILE: /etc/credit-scoring/registry/password
{{- end }}

{{/*
The volume holding that identity's password (key mlflowWriterPassword or mlflowReaderPassword
of existingSecret), mounted at /etc/credit-scoring/registry. Call as above.
*/}}
{{- define "credit-scoring.registryIdentityVolume" -}}
- name: registry-identity
  secret:
    secretName: {{ .ctx.Values.existingSecret }}
    # 0440: readable by the pod's group (fsGroup 10001), nobody else.
    defaultMode: 288
    items:
      - key: {{ ternary .ctx.Values.secretKeys.mlflowWriterPassword .ctx.Values.secretKeys.mlflowReaderPassword (eq .role "writer") }}
        path: password
{{- end }}

{{/*
Job spec of a training run (CronJob template and the one-off Job): train -> validate
(alias `staging` on pass) [-> promote], each step stopping the chain on failure.
*/}}
{{- define "credit-scoring.trainer.jobSpec" -}}
{{- $t := .Values.training -}}
backoffLimit: {{ $t.backoffLimit }}
activeDeadlineSeconds: {{ $t.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ $t.ttlSecondsAfterFinished }}
template:
  metadata:
    labels:
      {{- include "credit-scoring.componentLabels" (dict "ctx" . "component" "trainer") | nindent 6 }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "credit-scoring.trainer.serviceAccountName" . }}
    automountServiceAccountToken: false
    {{- with .Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- include "credit-scoring.podSecurityContext" dict | nindent 6 }}
    containers:
      - name: trainer
        image: {{ include "credit-scoring.image" (dict "image" $t.image "name" "credit-scoring-api" "ctx" .) | quote }}
        imagePullPolicy: {{ $t.image.pullPolicy }}
        command:
          - sh
          - -ec
          - |
            {{- if .Values.mlflow.auth.enabled }}
            # The registry-access Job may still be creating this identity (install/upgrade).
            credit-scoring registry-ready --permission MANAGE --timeout {{ .Values.mlflow.auth.trainerWaitSeconds }}
            {{- end }}
            version="$(credit-scoring train --idempotency-key "k8s-${JOB_NAME}" --json \
              | python -c 'import json, sys; print(json.load(sys.stdin)["version"])')"
            echo "trainer: registered version ${version}; validation gate"
            credit-scoring validate --version "${version}"
            {{- if $t.promote }}
            credit-scoring promote --version "${version}" --reason "$CREDIT_SCORING_PROMOTION_REASON" --by "$CREDIT_SCORING_PROMOTED_BY"
            {{- end }}
            credit-scoring models
        envFrom:
          - configMapRef:
              name: {{ include "credit-scoring.trainer.fullname" . }}
        env:
          # A retried pod of the same Job reuses the version it registered (idempotency key).
          - name: JOB_NAME
            valueFrom:
              fieldRef:
                fieldPath: metadata.labels['batch.kubernetes.io/job-name']
          {{- with $t.extraEnv }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
        resources:
          {{- toYaml $t.resources | nindent 10 }}
        securityContext:
          {{- include "credit-scoring.containerSecurityContext" dict | nindent 10 }}
        volumeMounts:
          - name: home
            mountPath: /var/lib/credit-scoring
          - name: tmp
            mountPath: /tmp
          {{- if $t.data.existingClaim }}
          - name: data
            mountPath: /data
            readOnly: true
          {{- end }}
          {{- if .Values.mlflow.auth.enabled }}
          - name: registry-identity
            mountPath: /etc/credit-scoring/registry
            readOnly: true
          {{- end }}
    volumes:
      - name: home
        emptyDir:
          sizeLimit: {{ $t.scratchSizeLimit }}
      - name: tmp
        emptyDir:
          sizeLimit: {{ $t.scratchSizeLimit }}
      {{- if $t.data.existingClaim }}
      - name: data
        persistentVolumeClaim:
          claimName: {{ $t.data.existingClaim }}
          readOnly: true
      {{- end }}
      {{- if .Values.mlflow.auth.enabled }}
      {{- include "credit-scoring.registryIdentityVolume" (dict "ctx" . "role" "writer") | nindent 6 }}
      {{- end }}
    {{- with $t.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $t.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $t.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
