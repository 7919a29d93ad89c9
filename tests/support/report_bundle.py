"""`kubectl webstack report` as the tests run it, and what they check of every bundle: its files written out
and kept for the run's final leak search (kubelocal.leaks), and no generated password in any of them."""

from __future__ import annotations

import base64
import os
import subprocess
import zipfile
from pathlib import Path

from kubelocal import leaks
from localservices import console_script


def report(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [console_script("kubectl-webstack"), "report", *args, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    said = f"{result.stdout}{result.stderr}(exit {result.returncode})"
    print(f"$ kubectl webstack report {' '.join(args)}\n{said}")
    return result


def extracted(zip_path: Path, into: Path, tag: str) -> dict[str, str]:
    """The ZIP's files by name, written out under `into` and kept for the run's final leak search."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
        names = archive.namelist()
    for name in names:
        leaks.keep_log(into / name, f"report-{tag}-{name.replace('/', '_')}")
    root = leaks.leak_dir()
    assert root is not None
    kept = [leaks.kept_copy(root, into / n, f"report-{tag}-{n.replace('/', '_')}") for n in names]
    assert all(k.is_file() for k in kept), kept  # the final scan reads these copies
    return {name: (into / name).read_text() for name in names}


def assert_no_password(files: dict[str, str], passwords: list[str], into: Path) -> None:
    # any() keeps a failure's message free of the text: pytest would print the password it found.
    forms = [*passwords, *(base64.b64encode(p.encode()).decode() for p in passwords)]
    holding = [name for name, text in files.items() if any(form in text for form in forms)]
    assert not holding, f"these files hold a generated password: {holding}"
    found = leaks.find_leaks(leaks.files_under(into), passwords)  # the final scan's own search
    assert not found, "\n".join(map(str, found))
