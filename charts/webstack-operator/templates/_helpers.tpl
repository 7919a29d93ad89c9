{{/*
Labels every object carries in deploy/operator, then Helm's standard labels (the only additions the
comparison with kustomize allows). Names are fixed, not release-prefixed: the alerts select the job
`webstack-operator-metrics` and the operator renews the Lease `webstack-operator`.
*/}}
{{- define "webstack-operator.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "webstack-operator.labels" -}}
app.kubernetes.io/name: webstack-operator
app.kubernetes.io/part-of: webstack
{{ include "webstack-operator.helmLabels" . }}
{{- end -}}

{{- define "webstack-operator.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* The ServiceAccount, as RBAC subjects name it. */}}
{{- define "webstack-operator.subject" -}}
- kind: ServiceAccount
  name: webstack-operator
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{- define "webstack-operator.namespaced" -}}
{{- if not (has .Values.rbac.scope (list "cluster" "namespaced")) -}}
{{- fail "rbac.scope must be cluster or namespaced" -}}
{{- end -}}
{{- if and (eq .Values.rbac.scope "namespaced") (not .Values.rbac.watchNamespaces) -}}
{{- fail "rbac.scope=namespaced needs rbac.watchNamespaces (the namespaces the operator serves)" -}}
{{- end -}}
{{- if eq .Values.rbac.scope "namespaced" }}true{{ end -}}
{{- end -}}
