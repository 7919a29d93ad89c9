"""The report's ZIP: the README and manifest describe exactly the files it holds, and nothing leaves
unredacted, whoever added it and however it was added."""

from __future__ import annotations

import io
import json
import zipfile

import yaml

from webstack_operator.cli.report.bundle import MANIFEST, README, SECTIONS, Bundle, child_path, zip_bytes
from webstack_operator.cli.report.redact import REDACTED, Redactor

PASSWORD = "Zk3_q9vT-pW2xLr8sYb0nA"


def bundle() -> Bundle:
    made = Bundle("team", "shop", "2026-12-06T20:00:00Z", Redactor.of([PASSWORD]))
    long_message = "connection refused " * 10 + PASSWORD  # a dumper would fold a long line
    made.add_yaml("events.yaml", {"items": [{"message": long_message}]})
    made.add_text("operator/logs/op-1-operator.log", f"password={PASSWORD}\nready\n")
    made.add_yaml("webstack.yaml", {"kind": "WebStack", "metadata": {"name": "shop"}})
    made.refuse("logs of pod webstack-system/op-2", "403 Forbidden: cannot get pods/log")
    return made


def opened(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_the_readme_and_manifest_come_first_and_the_manifest_lists_every_file() -> None:
    files = opened(zip_bytes(bundle()))
    with zipfile.ZipFile(io.BytesIO(zip_bytes(bundle()))) as archive:
        assert archive.namelist()[:2] == [README, MANIFEST]
    manifest = json.loads(files[MANIFEST])
    assert manifest["webstack"] == {"namespace": "team", "name": "shop"}
    assert manifest["formatVersion"] == 1
    listed = {f["path"]: f["bytes"] for f in manifest["files"]}
    assert set(listed) | {MANIFEST} == set(files)
    assert all(listed[p] == len(files[p].encode()) for p in listed)
    assert manifest["refusals"] == ["logs of pod webstack-system/op-2: 403 Forbidden: cannot get pods/log"]


def test_no_file_holds_a_value_and_the_manifest_counts_what_was_struck() -> None:
    files = opened(zip_bytes(bundle()))
    assert not [p for p, text in files.items() if PASSWORD in text]
    assert REDACTED in files["operator/logs/op-1-operator.log"]
    message = yaml.safe_load(files["events.yaml"])["items"][0]["message"]
    assert message.endswith(REDACTED)
    struck = json.loads(files[MANIFEST])["redactions"]
    assert struck["events.yaml"] == 1 and struck["operator/logs/op-1-operator.log"] == 1


def test_the_readme_says_what_is_in_it_what_was_redacted_and_what_was_refused() -> None:
    readme = opened(zip_bytes(bundle()))[README]
    assert "WebStack team/shop" in readme
    for path, _ in SECTIONS:
        assert path in readme
    assert "Secret values were never written" in readme
    assert "secretKeyRef" in readme
    assert "Replacements made: 2." in readme
    assert "username, database, host, port" in readme
    assert "logs of pod webstack-system/op-2: 403 Forbidden" in readme
    assert opened(zip_bytes(bundle()))["refusals.txt"].startswith("logs of pod webstack-system/op-2")


def test_a_report_with_nothing_refused_says_so() -> None:
    made = Bundle("team", "shop", "2026-12-06T20:00:00Z", Redactor())
    files = opened(zip_bytes(made))
    assert "Everything asked for was read." in files[README]
    assert files["refusals.txt"] == "nothing was refused\n"


def test_children_are_one_file_per_kind_and_name() -> None:
    assert child_path({"kind": "Deployment", "metadata": {"name": "shop-backend"}}) == (
        "children/Deployment-shop-backend.yaml"
    )


def test_a_file_name_holding_a_value_is_struck_too() -> None:
    made = Bundle("team", "shop", "2026-12-06T20:00:00Z", Redactor.of([PASSWORD]))
    made.add_text(f"operator/logs/{PASSWORD}.log", "x\n")
    files = opened(zip_bytes(made))
    assert f"operator/logs/{REDACTED}.log" in files
    assert not [name for name in files if PASSWORD in name]
