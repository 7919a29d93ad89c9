"""An upgrade of the operator rolls no frontend unless meant: the rendered UI is byte for byte the golden one.

The frontend ConfigMap (nginx.conf and the UI files) and its checksum on the pod template are in every
stack; any change to the template or the files, even a comment, restarts every frontend on upgrade. The
golden values below are `webstack-operator render -f deploy/samples/webstack-minimal.yaml`: the UI files
as a9fcf4e rendered them (the last commit before the distributions split, rendered in its own venv as
docs/ops/upgrade.md shows), nginx.conf as rendered since nginx looks the backend up again every 10 s
(issue 24: a re-created backend Service was unreachable through nginx until it restarted). That change
rolls every frontend once, as docs/ops/upgrade.md says. When a change to the UI is meant, update them in
the same commit and say so in the release notes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from webstack_operator.cli.main import render_file

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "deploy" / "samples" / "webstack-minimal.yaml"
# sha256 of each key of the `shop-frontend` ConfigMap, and the pod template's webstack.dev/config-checksum.
GOLDEN_DATA = {
    "app.js": "472982e09b0b",
    "index.html": "0aee6fb39bea",
    "nginx.conf": "174a0db9342b41f99a417c52840a8bf78e6e442fd45499a04b53ddaca185025a",
    "styles.css": "323e7a158074",
}
GOLDEN_CHECKSUM = "011c6d40e107d1ea1ce0312ca41f3b5c759ec88cd48e0be7216fc68e78bbe7d7"


def test_the_sample_renders_the_golden_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSTACK_FRONTEND_DIR", raising=False)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_file(str(SAMPLE))}
    data = objects["ConfigMap", "shop-frontend"]["data"]
    digests = {key: hashlib.sha256(text.encode()).hexdigest() for key, text in data.items()}
    assert sorted(digests) == sorted(GOLDEN_DATA)
    for key, golden in GOLDEN_DATA.items():
        assert digests[key].startswith(golden), f"{key} differs: every frontend would roll"
    template = objects["Deployment", "shop-frontend"]["spec"]["template"]
    assert template["metadata"]["annotations"]["webstack.dev/config-checksum"] == GOLDEN_CHECKSUM
