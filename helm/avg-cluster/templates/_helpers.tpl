{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "avg-cluster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name used as the prefix of every resource. If the release name already contains the chart name,
it is used alone.
*/}}
{{- define "avg-cluster.fullname" -}}
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
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "avg-cluster.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "avg-cluster.labels" -}}
helm.sh/chart: {{ include "avg-cluster.chart" . }}
{{ include "avg-cluster.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels shared by every workload of the release.
*/}}
{{- define "avg-cluster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "avg-cluster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels every silo pod carries: Orleans' Kubernetes hosting reads orleans/serviceId and orleans/clusterId,
and avg.cluster/silo selects all silos whatever their role.
*/}}
{{- define "avg-cluster.siloLabels" -}}
avg.cluster/silo: "true"
orleans/serviceId: {{ .Values.cluster.serviceId | quote }}
orleans/clusterId: {{ .Values.cluster.clusterId | quote }}
{{- end }}

{{/*
Name of the ServiceAccount the silos run as.
*/}}
{{- define "avg-cluster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "avg-cluster.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Silo image. Call with (dict "root" $ "gpu" true|false): GPU silos get the tag with image.gpuTagSuffix.
*/}}
{{- define "avg-cluster.siloImage" -}}
{{- $image := .root.Values.image }}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag }}
{{- if .gpu }}
{{- $tag = printf "%s%s" $tag .root.Values.image.gpuTagSuffix }}
{{- end }}
{{- printf "%s/%s:%s" $image.registry $image.repository $tag }}
{{- end }}

{{/*
Name of the bundled Redis (StatefulSet and Service).
*/}}
{{- define "avg-cluster.redisName" -}}
{{- printf "%s-redis" (include "avg-cluster.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the Secret holding the API keys, empty when no key is configured.
*/}}
{{- define "avg-cluster.apiKeysSecretName" -}}
{{- if .Values.apiKeys.existingSecret }}
{{- .Values.apiKeys.existingSecret }}
{{- else if .Values.apiKeys.keys }}
{{- printf "%s-api-keys" (include "avg-cluster.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Checks that cannot be expressed in values.schema.json. Rendering stops with a message that says what to change.
*/}}
{{- define "avg-cluster.validate" -}}
{{- $grace := int .Values.cluster.terminationGracePeriodSeconds }}
{{- $needed := add (int .Values.cluster.shutdownSeconds) (int .Values.cluster.preStopSleepSeconds) }}
{{- if le $grace (int $needed) }}
{{- fail (printf "cluster.terminationGracePeriodSeconds (%d) must be greater than cluster.shutdownSeconds + cluster.preStopSleepSeconds (%d), or Kubernetes kills silos before Orleans has shut down gracefully" $grace (int $needed)) }}
{{- end }}
{{- if or (not .Values.modelSilos.enabled) (lt (int .Values.modelSilos.replicas) 1) }}
{{- fail "modelSilos: at least one model silo is needed (enabled: true, replicas >= 1); queries and ingest run there" }}
{{- end }}
{{- $partitionSilos := and .Values.partitionSilos.enabled (ge (int .Values.partitionSilos.replicas) 1) }}
{{- if and (not $partitionSilos) (not (contains "partitions" .Values.modelSilos.roles)) }}
{{- fail "no silo hosts trie partitions: enable partitionSilos, or set modelSilos.roles to model,partitions" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.existingSecret) }}
{{- fail "redis.enabled is false: set externalRedis.existingSecret to a Secret with the Redis connection string" }}
{{- end }}
{{- if and (eq .Values.bundle.source "existingClaim") (not .Values.bundle.existingClaim) }}
{{- fail "bundle.source is existingClaim: set bundle.existingClaim to the PVC that holds the model bundle" }}
{{- end }}
{{- if and (eq .Values.bundle.source "hostPath") (not .Values.bundle.hostPath) }}
{{- fail "bundle.source is hostPath: set bundle.hostPath to the node folder that holds the model bundle" }}
{{- end }}
{{- if and (eq .Values.bundle.source "emptyDir") (not .Values.bundle.initContainer.enabled) }}
{{- fail "bundle.source is emptyDir: enable bundle.initContainer to fill it, or the model silos start without a bundle" }}
{{- end }}
{{- if or (eq (toString .Values.modelSilos.rollingUpdate.maxSurge) "0") (eq (toString .Values.partitionSilos.rollingUpdate.maxSurge) "0") }}
{{- fail "rollingUpdate.maxSurge must be at least 1: maxUnavailable is 0 so that capacity never drops, and a rollout needs room for one new silo" }}
{{- end }}
{{- end }}

{{/*
Environment shared by every silo: Orleans ids and ports, Kubernetes identity, Redis, API keys, shutdown.
*/}}
{{- define "avg-cluster.siloEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: Avg__AdvertisedIp
  value: "$(POD_IP)"
- name: ORLEANS_CLUSTER_ID
  value: {{ .Values.cluster.clusterId | quote }}
- name: ORLEANS_SERVICE_ID
  value: {{ .Values.cluster.serviceId | quote }}
- name: Avg__ClusterId
  value: {{ .Values.cluster.clusterId | quote }}
- name: Avg__ServiceId
  value: {{ .Values.cluster.serviceId | quote }}
- name: Avg__HttpPort
  value: {{ .Values.cluster.httpPort | quote }}
- name: Avg__SiloPort
  value: {{ .Values.cluster.siloPort | quote }}
- name: Avg__GatewayPort
  value: {{ .Values.cluster.gatewayPort | quote }}
- name: Avg__Shards
  value: {{ .Values.cluster.shards | quote }}
- name: Avg__ShutdownSeconds
  value: {{ .Values.cluster.shutdownSeconds | quote }}
- name: Avg__Redis
{{- if .Values.redis.enabled }}
  value: {{ printf "%s:%d" (include "avg-cluster.redisName" .) (int .Values.redis.port) | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- end }}
{{- with (include "avg-cluster.apiKeysSecretName" .) }}
- name: Avg__ApiKeys
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ if $.Values.apiKeys.existingSecret }}{{ $.Values.apiKeys.existingSecretKey }}{{ else }}apiKeys{{ end }}
{{- end }}
{{- with .Values.apiKeys.readKeyHashes }}
- name: Avg__ReadKeyHashes
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.apiKeys.writeKeyHashes }}
- name: Avg__WriteKeyHashes
  value: {{ join "," . | quote }}
{{- end }}
- name: Avg__ProtectPages
  value: {{ .Values.apiKeys.protectPages | quote }}
- name: Avg__RateLimitRequests
  value: {{ .Values.rateLimit.requests | quote }}
- name: Avg__RateLimitWindowSeconds
  value: {{ .Values.rateLimit.windowSeconds | quote }}
- name: Avg__MaxRequestBytes
  value: {{ .Values.maxRequestBytes | int64 | quote }}
{{- end }}

{{/*
Ports, probes, lifecycle and security of a silo container (the same for every role).
*/}}
{{- define "avg-cluster.siloContainerCommon" -}}
imagePullPolicy: {{ .Values.image.pullPolicy }}
ports:
  - name: http
    containerPort: {{ .Values.cluster.httpPort }}
    protocol: TCP
  - name: silo
    containerPort: {{ .Values.cluster.siloPort }}
    protocol: TCP
  - name: gateway
    containerPort: {{ .Values.cluster.gatewayPort }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /health/live
    port: http
  initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /health/ready
    port: http
  initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ .Values.cluster.preStopSleepSeconds | quote }}]
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}
