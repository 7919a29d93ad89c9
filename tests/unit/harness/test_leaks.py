"""The search for passwords in logs bites: a planted password is found as written and base64-encoded (at
every alignment, as a Secret or a config line would carry it), and nothing else is."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from kubelocal import leaks
from localservices.passwords import generated_passwords

PASSWORD = secrets.token_urlsafe(24)


def _log(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_a_planted_password_is_found_as_written(tmp_path: Path) -> None:
    clean = _log(tmp_path, "clean.log", "starting\nready on 127.0.0.1:8000\n" * 100)
    dirty = _log(tmp_path, "dirty.log", f'{{"msg": "connecting", "dsn": "redis://:{PASSWORD}@cache"}}\n')
    found = leaks.find_leaks([clean, dirty], {PASSWORD})
    assert [(f.path, f.form) for f in found] == [(dirty, "raw")]
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()[:12]  # the report shows none of the password
    assert str(found[0]) == f"{dirty}: a generated password (sha256 {digest}...) appears raw"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "requirepass ", "x" * 7])
def test_a_base64_password_is_found_at_any_alignment(tmp_path: Path, prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{PASSWORD}\n".encode()).decode()
    dirty = _log(tmp_path, "secret.json", json.dumps({"data": {"redis.conf": encoded}}))
    assert [f.form for f in leaks.find_leaks([dirty], {PASSWORD})] == ["base64"]


def test_url_safe_base64_is_found_too(tmp_path: Path) -> None:
    encoded = base64.urlsafe_b64encode(b"\xfb\xff" + PASSWORD.encode()).decode()
    assert leaks.find_leaks([_log(tmp_path, "a.log", encoded)], {PASSWORD})


def test_a_password_with_characters_outside_tokens_is_still_found(tmp_path: Path) -> None:
    odd = "pass word with spaces!"
    assert leaks.find_leaks([_log(tmp_path, "a.log", f"x {odd} y")], {odd})


def test_other_passwords_and_fragments_are_not_reported(tmp_path: Path) -> None:
    log = _log(tmp_path, "a.log", f"{PASSWORD[:-1]} {secrets.token_urlsafe(24)}\n")
    assert leaks.find_leaks([log], {PASSWORD}) == []


def test_passwords_are_noted_privately_and_only_with_a_leak_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(leaks.LEAK_DIR_VARIABLE, raising=False)
    leaks.note_secret(PASSWORD)  # no directory: nothing recorded anywhere
    monkeypatch.setenv(leaks.LEAK_DIR_VARIABLE, str(tmp_path / "run"))
    leaks.note_secret(PASSWORD)
    leaks.note_secret("short")  # would match everywhere: ignored
    assert leaks.noted_secrets() == {PASSWORD}
    mode = os.stat(tmp_path / "run" / leaks.PASSWORDS_FILE).st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_kept_logs_are_searched_and_the_password_file_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(leaks.LEAK_DIR_VARIABLE, str(tmp_path / "run"))
    leaks.note_secret(PASSWORD)
    server_log = _log(tmp_path, "redis.log", f"AUTH {PASSWORD}\n")
    leaks.keep_log(server_log, "redis")
    server_log.unlink()  # as when the server's temp dir is removed
    files = leaks.files_under(tmp_path / "run")
    assert files == [leaks.kept_copy(tmp_path / "run", server_log, "redis")]
    assert [f.form for f in leaks.find_leaks(files, leaks.noted_secrets())] == ["raw"]


def test_harvesting_notes_what_each_harvester_returns_and_survives_a_failing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(leaks.LEAK_DIR_VARIABLE, str(tmp_path / "run"))

    def broken(kubeconfig: Path) -> list[str]:
        raise RuntimeError("apiserver gone")

    monkeypatch.setattr(leaks, "HARVESTERS", [broken, lambda kubeconfig: [PASSWORD]])
    leaks.harvest(tmp_path / "kubeconfig")
    assert leaks.noted_secrets() == {PASSWORD}
    assert "apiserver gone" in capsys.readouterr().err


def test_only_generated_webstack_secrets_are_harvested() -> None:
    def secret(password: str, generated: bool) -> dict[str, object]:
        annotations = {"webstack.dev/generated": "true"} if generated else {}
        data = {"password": base64.b64encode(password.encode()).decode(), "username": "d2Vic3RhY2s="}
        return {"metadata": {"annotations": annotations}, "data": data}

    listed = {"items": [secret("generated-one-0123456789", True), secret("users-own-0123456789", False)]}
    assert generated_passwords(listed) == ["generated-one-0123456789"]
