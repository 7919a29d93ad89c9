"""The regular expressions the API's string fields must match (images, DNS names, durations, ARNs)."""

# Patterns are RE2-compatible (the apiserver) and understood by pydantic's Rust regex engine alike.
_HOST_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_PATTERN = (
    rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    rf"(?::{_TAG}|@{_DIGEST}|:{_TAG}@{_DIGEST})$"
)
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Argo Rollouts pause and analysis durations, Prometheus durations, Go durations (Velero's ttl).
SHORT_DURATION_PATTERN = r"^[0-9]{1,6}(s|m|h)$"
PROMETHEUS_DURATION_PATTERN = r"^[0-9]{1,6}(ms|s|m|h)$"
DRILL_PERIOD_PATTERN = r"^[1-9][0-9]{0,4}(m|h)$"
GO_DURATION_PATTERN = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"
# Five-field cron as Velero's robfig/cron parser reads it, or one of its @-descriptors.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every [0-9]{1,6}(s|m|h)"
    r"|([0-9*/,-]+ ){3}[0-9A-Za-z*/,-]+ [0-9A-Za-z*/,?-]+)$"
)
IAM_ROLE_ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
ACM_CERTIFICATE_ARN_PATTERN = (
    r"^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]{1,128}$"
)
HTTP_URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
REDIS_URL_PATTERN = r"^rediss?://[^\s]+$"
REDIS_MEMORY_PATTERN = r"^[1-9][0-9]{0,5}(mb|gb)$"

# Label keys and values as a NetworkPolicy selector takes them (`prefix/name: value`).
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
