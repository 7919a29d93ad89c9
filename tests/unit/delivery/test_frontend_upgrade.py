"""An upgrade of the operator rolls no frontend: the rendered UI is byte for byte what a9fcf4e rendered.

The frontend ConfigMap (nginx.conf and the UI files) and its checksum on the pod template are in every
stack; any change to the template or the files, even a comment, restarts every frontend on upgrade. The
golden values below are a9fcf4e's `webstack-operator render -f deploy/samples/webstack-minimal.yaml` (the
last commit before the distributions split), rendered in its own venv as docs/ops/upgrade.md shows. When a
change to the UI is meant, update them in the same commit and say so in the release notes.
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
    "nginx.conf": "f9fbf699265735642cea6a208a518331c7ae79df87b62da8a651159ab9832340",
    "styles.css": "323e7a158074",
}
GOLDEN_CHECKSUM = "7543c43484e475898b34cef097d7cbf943c319fc305b7d25422b166e4e2265d7"


def test_the_sample_renders_the_frontend_of_a9fcf4e(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSTACK_FRONTEND_DIR", raising=False)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_file(str(SAMPLE))}
    data = objects["ConfigMap", "shop-frontend"]["data"]
    digests = {key: hashlib.sha256(text.encode()).hexdigest() for key, text in data.items()}
    assert sorted(digests) == sorted(GOLDEN_DATA)
    for key, golden in GOLDEN_DATA.items():
        assert digests[key].startswith(golden), f"{key} differs from a9fcf4e's: every frontend would roll"
    template = objects["Deployment", "shop-frontend"]["spec"]["template"]
    assert template["metadata"]["annotations"]["webstack.dev/config-checksum"] == GOLDEN_CHECKSUM
