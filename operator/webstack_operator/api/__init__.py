"""The WebStack API: the pydantic models of `spec` and `status`, and what is generated from them.

The models are the single source of truth; the CRD schema (`crd`) and the reference (`reference`) are
derived, `files` reads WebStack documents as `render` and `plan` take them, and `problem` is the one word for
something that keeps a stack from where it should be.
"""
