"""The upgrade tests' starting point is what 66e0811 rendered, and only PGHOST's users change on upgrade.

The golden digests are sha256 of the canonical JSON (sorted keys, no spaces) of each object 66e0811 renders
for deploy/samples/webstack-minimal.yaml (owner uid `u`, passwords `p`*32 and `c`*32, default settings),
computed with that commit's operator/ contract/ webapp/ from `git archive 66e0811` on PYTHONPATH in this
venv. They change only if a later builder changes one of these objects: then that change is itself an
upgrade step, and this reconstruction no longer describes 66e0811 (drop or re-derive it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.support.previous_release import previous_release_objects

from webstack_operator.api.files import load_documents
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config import run_options

MINIMAL = Path(__file__).parents[4] / "deploy" / "samples" / "webstack-minimal.yaml"
GOLDEN = {
    ("Service", "shop-postgres"): "1990e5b9e50fe38a31a0ae90e04e33a1afa9e1fc8c017cbf30a297fe95d3e1f0",
    ("StatefulSet", "shop-postgres"): "a199277f8b99332834d6491910ffbce1ad36eec4b2e671ce4304f05ca10d70a3",
    ("Job", "shop-migrate-72a91b453d"): "db7282d7dd3da5b5918a898b9d6f8b5bc688d9a5d5af5f4521065a1ee4d4d846",
    ("Deployment", "shop-backend"): "bdac641c07d0f23bfaf02805df34fbc5879bc960ec3f7816711f386292337260",
}


def _ctx() -> StackContext:
    [doc] = load_documents(str(MINIMAL))
    return StackContext(
        spec=parse_spec(doc),
        name=doc["metadata"]["name"],
        namespace=doc["metadata"]["namespace"],
        settings=run_options.load_settings({}),
        owner=OwnerRef(api_version="webstack.dev/v1alpha1", kind="WebStack", name="shop", uid="u"),
        generated_password="p" * 32,
        generated_cache_password="c" * 32,
    )


def _digests(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (o["kind"], o["metadata"]["name"]): hashlib.sha256(
            json.dumps(o, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        for o in objects
    }


def test_the_reconstruction_is_what_66e0811_rendered() -> None:
    previous = _digests(previous_release_objects(_ctx()))
    assert ("Service", "shop-postgres-rw") not in previous
    for key, golden in GOLDEN.items():
        assert previous.get(key) == golden, key


def test_the_upgrade_adds_the_client_service_and_changes_only_what_names_pghost() -> None:
    ctx = _ctx()
    previous, current = _digests(previous_release_objects(ctx)), _digests(desired_objects(ctx))
    assert set(current) - set(previous) == {
        ("Service", "shop-postgres-rw"),
        ("Job", "shop-migrate-3ed7a83c97"),
    }
    assert set(previous) - set(current) == {("Job", "shop-migrate-72a91b453d")}
    changed = {key for key in set(previous) & set(current) if previous[key] != current[key]}
    assert changed == {("Deployment", "shop-backend")}
    # The database itself and its governing Service render byte for byte as before: no Postgres restart.
    for key in (("Service", "shop-postgres"), ("StatefulSet", "shop-postgres")):
        assert current[key] == GOLDEN[key], key
