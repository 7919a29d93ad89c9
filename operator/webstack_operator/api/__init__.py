"""The WebStack API, pure and standing on `kube`'s data types alone: the pydantic models of `spec` and
`status`, the single source of truth, split by concern as CloudNativePG splits its `api/v1` (a `*_types`
module per section of the spec, on shared `field_types`, `object_references`, `patterns`, `cel`, `defaults`
and `model_base`), the CRD schema (`crd`) and the reference (`reference`) generated from them, `files`, which
reads WebStack documents as `render` and `plan` take them, and `problem`, the one word for something that
keeps a stack from where it should be (docs/architecture.md, "The operator in parts", lists the modules).
"""
