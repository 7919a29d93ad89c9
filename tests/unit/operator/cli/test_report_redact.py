"""The report's redaction: Secrets shown by key names only, and every value of them struck from any text,
as written and in the base64 forms the suite's final leak scan searches for."""

from __future__ import annotations

import base64
from pathlib import Path

from kubelocal import leaks
from webstack_operator.cli.report.redact import REDACTED, Redactor, key_names, secret_values

PASSWORD = "Zk3_q9vT-pW2xLr8sYb0nA"


def secret(**data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "shop-db",
            "namespace": "team",
            "uid": "u1",
            "labels": {"app.kubernetes.io/instance": "shop"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": f'{{"password":"{PASSWORD}"}}'
            },
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_a_secret_is_reduced_to_its_key_names() -> None:
    shown = key_names(secret(password=PASSWORD, username="webstack"))
    assert shown["keys"] == ["password", "username"]
    assert shown["metadata"] == {
        "name": "shop-db",
        "namespace": "team",
        "uid": "u1",
        "labels": {"app.kubernetes.io/instance": "shop"},
    }
    assert "data" not in shown and PASSWORD not in str(shown)  # annotations (last-applied) dropped too


def test_secret_values_are_decoded_whole_and_by_last_word_of_a_line_and_short_ones_left_out() -> None:
    other = "Qm9v-secondpassword_x"
    config = f"port 6379\ndir /data/redis-data\nrequirepass {other}\n"
    values = secret_values(secret(password=PASSWORD, token="abc", config=config))
    assert values == [PASSWORD, config, "/data/redis-data", other]  # each line's last word
    assert "abc" not in values  # under the minimum: it would strike half the bundle
    assert not any(len(v) < 8 for v in values)


def test_identity_values_are_not_passwords_and_are_never_struck() -> None:
    values = secret_values(
        secret(
            password=PASSWORD, username="webstack-user", database="webstack-db", POSTGRES_HOST="db.team.svc"
        )
    )
    assert values == [PASSWORD]
    weak = secret(password="webstack")  # a password that is a common word is struck all the same
    assert secret_values(weak) == ["webstack"]


def test_every_value_is_struck_as_written_and_in_base64_at_any_alignment(tmp_path: Path) -> None:
    redactor = Redactor.of([PASSWORD])
    texts = [
        f"connecting with password={PASSWORD} failed",
        base64.b64encode(f"x{PASSWORD}".encode()).decode(),
        base64.b64encode(f"xy{PASSWORD}tail".encode()).decode(),
        base64.urlsafe_b64encode(f"requirepass {PASSWORD}".encode()).decode(),
    ]
    for index, text in enumerate(texts):
        written = tmp_path / f"{index}.txt"
        written.write_text(text)
        assert leaks.find_leaks([written], [PASSWORD]), text  # the scan would see it unredacted
        struck = redactor.redact(text, "f")
        assert REDACTED in struck, text
        written.write_text(struck)
        assert not leaks.find_leaks([written], [PASSWORD]), struck  # the suite's own search, after
    assert redactor.struck["f"] >= len(texts)


def test_a_value_containing_another_is_struck_whole() -> None:
    redactor = Redactor.of(["abcdefgh12", "abcdefgh12345678"])
    assert redactor.redact("x abcdefgh12345678 y") == f"x {REDACTED} y"


def test_a_tree_is_struck_string_by_string_and_keeps_its_shape() -> None:
    redactor = Redactor.of([PASSWORD])
    tree = {"a": [PASSWORD, 3, {"b": f"-{PASSWORD}-"}], "c": None}
    assert redactor.redact_tree(tree, "t") == {"a": [REDACTED, 3, {"b": f"-{REDACTED}-"}], "c": None}
    assert redactor.struck == {"t": 2}


def test_without_values_nothing_changes() -> None:
    text = "nothing to hide here, 2026-12-06T20:00:00Z"
    redactor = Redactor.of(["short"])  # under the minimum: never a needle
    assert redactor.needles == []
    assert redactor.redact(text) == text
