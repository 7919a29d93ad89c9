"""The WebStack API's group, version and kind: how Kubernetes names the resource."""

GROUP = "webstack.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "WebStack"
PLURAL = "webstacks"
