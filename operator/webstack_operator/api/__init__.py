"""The WebStack API: the pydantic models of `spec` and `status`, and what is generated from them.

The models are the single source of truth, split by concern as CloudNativePG splits its `api/v1`; the CRD
schema (`crd`) and the reference (`reference`) are derived from them, `files` reads WebStack documents as
`render` and `plan` take them, and `problem` is the one word for something that keeps a stack from where it
should be. From the ground up:

- `group_version`: the API group, version, kind and plural.
- `patterns`: the regular expressions string fields must match; `cel`: CEL rule entries;
  `model_base`: the base model (camelCase, frozen, strict) and omittable sub-objects.
- `field_types`: images, quantities, DNS names, CIDRs, labels; `object_references`: an object, a Secret
  key, a ConfigMap key; `compute_resources`: requests and limits; `defaults`: ports and default resources.
- One module per section of the spec: `delivery_types` (rollouts, canary), `backend_types`,
  `frontend_types`, `credentials_types`, `database_types`, `cache_types`, `ingress_types`,
  `monitoring_types`, `backup_types` (with `cron`, which reads its schedule), `security_types`.
- `spec`: the root `WebStackSpec`, the name rule, `parse_spec` and `SpecError`; `status_types`: the
  `status`.
- Generated from them: `crd`, `reference`. Beside them: `files`, `problem`.
"""
