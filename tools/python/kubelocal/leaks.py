"""The passwords a run generated and every log it wrote, so that a test can prove no log holds a password.

A run (a pytest session, the demo) names a directory in `WEBSTACK_LEAK_DIR`. Then:
- every password the harness generates, or reads back from a cluster's Secrets, is noted in
  `<dir>/passwords` (mode 0600, one per line; the only file there that is never scanned);
- every supervised process's log, and the files it writes besides (the apiserver's audit log), is copied to
  `<dir>/logs/` when the process stops (its temp dir goes soon after), and `keep_live_logs()` copies those
  still running.
`find_leaks()` searches files for every noted password, as written and base64-encoded (a Secret's `data` is
base64, and a password inside a longer value, such as `requirepass <password>`, encodes at one of three
alignments). Findings name the file and the form, never the password. Without the variable nothing is
recorded: a developer's ad-hoc use of the harness leaves no password file behind.

Processes started by a run share the directory through the environment, so the demo started by a test
records into the test's directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

LEAK_DIR_VARIABLE = "WEBSTACK_LEAK_DIR"
PASSWORDS_FILE = "passwords"
LOGS_DIR = "logs"
# The temporary directories of earlier pytest runs the final search covers too (scripts/test.sh names its
# parallel part's `--basetemp`: a demo's log, a browser's, any file a test wrote), os.pathsep-separated.
EARLIER_RUNS_VARIABLE = "WEBSTACK_EARLIER_RUNS"
MIN_LENGTH = 12  # shorter values ("webstack", a port) would match everywhere and prove nothing

# Every character a generated password (secrets.token_urlsafe) or a base64 form of one is made of: an
# occurrence lies inside a maximal run of them, so only those runs need searching.
_TOKEN = re.compile(rb"[A-Za-z0-9+/=_.~-]{12,}")

# Callables that return the passwords a cluster holds (installed by whoever knows where they are).
Harvester = Callable[[Path], Iterable[str]]
HARVESTERS: list[Harvester] = []
# Kubeconfigs of the local clusters running in this process (LocalCluster adds and removes itself).
LIVE_CLUSTERS: set[Path] = set()


def leak_dir() -> Path | None:
    value = os.environ.get(LEAK_DIR_VARIABLE)
    return Path(value) if value else None


def note_secret(value: str) -> None:
    """Remembers a password the run made or read, for the final search."""
    root = leak_dir()
    if root is None or len(value) < MIN_LENGTH or "\n" in value:
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / PASSWORDS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(value + "\n")


def earlier_runs() -> list[Path]:
    """The temp dirs of the earlier pytest runs whose files the final search must read as well."""
    return [Path(p) for p in os.environ.get(EARLIER_RUNS_VARIABLE, "").split(os.pathsep) if p]


def noted_secrets(root: Path | None = None) -> set[str]:
    root = root or leak_dir()
    if root is None or not (root / PASSWORDS_FILE).exists():
        return set()
    return {line for line in (root / PASSWORDS_FILE).read_text().splitlines() if line}


def harvest(kubeconfig: Path) -> None:
    """Notes the passwords a cluster holds (before it, or a namespace of it, goes away). A cluster that
    cannot answer is reported, not raised: tearing down must go on."""
    if leak_dir() is None:
        return
    for harvester in HARVESTERS:
        try:
            values = list(harvester(kubeconfig))
        except Exception as e:  # a teardown must go on; the miss is said
            print(f"[leaks] could not read the passwords of {kubeconfig}: {e}", file=sys.stderr)
            continue
        for value in values:
            note_secret(value)


def harvest_live() -> None:
    """Notes the passwords of every local cluster still running (the final search runs before they stop)."""
    for kubeconfig in sorted(LIVE_CLUSTERS):
        harvest(kubeconfig)


def kept_copy(root: Path, path: Path, name: str) -> Path:
    """Where `keep_log` copies the log at `path`: one copy per log file, whoever wrote it."""
    tag = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:12]
    return root / LOGS_DIR / f"{name}-{tag}.log"


def keep_log(path: Path, name: str) -> None:
    """Copies a log out of a temp dir about to be removed; again later, the newer copy wins."""
    root = leak_dir()
    if root is None or not path.exists():
        return
    copy = kept_copy(root, path, name)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, copy)


def base64_forms(secret: bytes) -> list[bytes]:
    """The parts of base64(... + secret + ...) fixed by the secret alone, at each of the 3 alignments,
    standard and URL-safe alphabets."""
    forms: list[bytes] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret)
        start = (shift * 8 + 5) // 6  # characters that also carry bits of what precedes
        end = (shift + len(secret)) * 8 // 6  # characters wholly made of known bits
        core = encoded[start:end]
        if len(core) >= MIN_LENGTH:
            forms += [core, core.translate(bytes.maketrans(b"+/", b"-_"))]
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class Leak:
    path: Path
    form: str  # "raw" or "base64"
    hint: str  # a digest of the password: tells which one without showing any of it

    def __str__(self) -> str:
        return f"{self.path}: a generated password (sha256 {self.hint}...) appears {self.form}"


def _needles(secret: str) -> list[tuple[str, bytes]]:
    raw = secret.encode()
    return [("raw", raw), *(("base64", form) for form in base64_forms(raw))]


def find_leaks(files: Iterable[Path], secrets: Iterable[str]) -> list[Leak]:
    """Every (file, password, form) found. Files that vanished meanwhile are skipped."""
    needles = [(secret, form, needle) for secret in set(secrets) for form, needle in _needles(secret)]
    found: list[Leak] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        # Unique runs of token characters: a log repeats itself, so this is far smaller than the file.
        runs = b"\n".join(set(_TOKEN.findall(data)))
        seen: set[tuple[str, str]] = set()
        for secret, form, needle in needles:
            haystack = runs if _TOKEN.fullmatch(needle) else data
            if (secret, form) not in seen and needle in haystack:
                seen.add((secret, form))
                found.append(Leak(path, form, hashlib.sha256(secret.encode()).hexdigest()[:12]))
    return found


def files_under(*roots: Path, skip: Iterable[Path] = ()) -> list[Path]:
    """Every regular file below the roots, except password files (named `passwords`) and `skip`."""
    excluded = {p.resolve() for p in skip}
    out: list[Path] = []
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != PASSWORDS_FILE and path.resolve() not in excluded:
                out.append(path)
    return out
