"""`helm test`: the WebStack CRD is Established and every operator pod answers /healthz with 200.

Runs in the test pod with the standard library only (the operator image's python3), as the ServiceAccount
webstack-operator-test, which may get that one CRD and list pods in the release namespace, nothing else.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request
from typing import Any

# The mounted token and CA (SERVICEACCOUNT_DIR: tests/integration/delivery/test_helm_install.py runs this
# script outside a pod, with a token minted for the same ServiceAccount).
SA = os.environ.get("SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
# The API by the service address the kubelet injects (no DNS needed).
API = "https://{}:{}".format(
    os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
    os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
)
CRD = "webstacks.webstack.dev"
DEADLINE = time.monotonic() + float(os.environ.get("TEST_TIMEOUT_SECONDS", "120"))


def api(path: str) -> dict[str, Any]:
    with open(f"{SA}/token") as f:
        token = f.read()
    request = urllib.request.Request(API + path, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
        return dict(json.load(response))


def established() -> bool:
    conditions = api(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}")["status"]
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions.get("conditions", []))


def healthz_failures() -> list[str]:
    namespace = os.environ["RELEASE_NAMESPACE"]
    pods = api(
        f"/api/v1/namespaces/{namespace}/pods?labelSelector=app.kubernetes.io/name%3Dwebstack-operator"
    )
    ips = [p["status"].get("podIP") for p in pods["items"] if p["metadata"].get("deletionTimestamp") is None]
    if not ips:
        return ["no operator pod"]
    failures = []
    for ip in ips:
        try:
            with urllib.request.urlopen(f"http://{ip}:8080/healthz", timeout=5) as response:
                if response.status != 200:
                    failures.append(f"{ip}: HTTP {response.status}")
        except Exception as error:  # any failure is reported, then retried until the deadline
            failures.append(f"{ip}: {error}")
    return failures


def main() -> int:
    problems = ["not checked"]
    while time.monotonic() < DEADLINE:
        try:
            problems = ([] if established() else [f"CRD {CRD} is not Established"]) + healthz_failures()
        except Exception as error:
            problems = [f"API: {error}"]
        if not problems:
            print(f"CRD {CRD} Established; every operator pod answers /healthz")
            return 0
        time.sleep(2)
    print("helm test failed: " + "; ".join(problems), file=sys.stderr)
    return 1


sys.exit(main())
