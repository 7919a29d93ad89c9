"""Runs a lab image's container with runc as a hardened pod's container runs: read-only root, no capabilities.

For the lab image tests (tests/integration/delivery/test_lab_images.py): the image comes from buildah's
storage (mounted, never built here), scratch space is tmpfs where the builders put emptyDirs, and the
container gets its own network namespace with loopback up, as a pod's has.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The state runc hands a createRuntime hook on stdin carries the container's pid: bring its loopback up.
_LOOPBACK_UP = 'pid=$(sed -n \'s/.*"pid":\\([0-9]*\\).*/\\1/p\'); exec nsenter -t "$pid" -n ip link set lo up'
_CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def _buildah(*args: str) -> str:
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(Path(__file__).resolve().parents[2] / "tools/images/containers.conf"),
    }
    return subprocess.run(
        ["buildah", *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


@contextmanager
def mounted_image(reference: str) -> Iterator[Path]:
    """The image's root filesystem, read through a buildah working container (removed afterwards)."""
    container = _buildah("from", "--pull-never", "--quiet", reference)
    try:
        yield Path(_buildah("mount", container))
    finally:
        _buildah("rm", container)


def image_config(reference: str) -> dict[str, object]:
    """The OCI image configuration's `config` (User, Entrypoint, Env, Labels...)."""
    inspected: dict[str, dict[str, dict[str, object]]] = json.loads(
        _buildah("inspect", "--type", "image", reference)
    )
    return inspected["OCIv1"]["config"]


@dataclass(frozen=True)
class Container:
    name: str
    log: Path

    def exec(self, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the running container (its user, namespaces and environment), as a probe does."""
        extra = [f"--env={key}={value}" for key, value in (env or {}).items()]
        command = ["runc", "exec", *extra, self.name, *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    def start(self, log: Path, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a second process in the container, as a sidecar sharing its namespaces; output to `log`.
        It ends with the container (the container's init is killed on exit)."""
        extra = [f"--env={key}={value}" for key, value in (env or {}).items()]
        with log.open("w") as out:
            return subprocess.Popen(["runc", "exec", *extra, self.name, *argv], stdout=out, stderr=out)


def _spec(
    bundle: Path,
    rootfs: Path,
    user: tuple[int, int],
    argv: Sequence[str],
    env: Sequence[str],
    tmpfs: Sequence[str],
    binds: Mapping[str, Path],
) -> None:
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["root"] = {"path": str(rootfs), "readonly": True}
    process = spec["process"]
    process.update(terminal=False, args=list(argv), env=list(env), noNewPrivileges=True, cwd="/")
    process["user"] = {"uid": user[0], "gid": user[1], "additionalGids": [user[1]]}
    process["capabilities"] = {name: [] for name in _CAPABILITY_SETS}
    for destination in tmpfs:
        options = ["nosuid", "nodev", "mode=1777", "size=256m"]
        spec["mounts"].append(
            {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options}
        )
    for destination, source in binds.items():
        spec["mounts"].append(
            {"destination": destination, "type": "bind", "source": str(source), "options": ["rbind", "rw"]}
        )
    spec["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", _LOOPBACK_UP]}]}
    (bundle / "config.json").write_text(json.dumps(spec))


def _bundle(
    bundle: Path,
    rootfs: Path,
    user: tuple[int, int],
    argv: Sequence[str],
    env: Sequence[str],
    tmpfs: Sequence[str],
    binds: Mapping[str, Path] | None,
) -> str:
    """Writes the bundle's config.json; returns a fresh container name."""
    bundle.mkdir(parents=True, exist_ok=True)
    _spec(bundle, rootfs, user, argv, env, tmpfs, binds or {})
    return f"webstack-lab-test-{uuid.uuid4().hex[:8]}"


@contextmanager
def run_container(
    rootfs: Path,
    bundle: Path,
    *,
    user: tuple[int, int],
    argv: Sequence[str],
    env: Sequence[str],
    tmpfs: Sequence[str] = ("/tmp",),
    binds: Mapping[str, Path] | None = None,
) -> Iterator[Container]:
    """The container running `argv` in the foreground of runc; killed and deleted on exit."""
    container = Container(_bundle(bundle, rootfs, user, argv, env, tmpfs, binds), bundle / "output.log")
    with container.log.open("w") as log:
        runc = subprocess.Popen(
            ["runc", "run", "--bundle", str(bundle), container.name], stdout=log, stderr=log
        )
    try:
        yield container
    finally:
        subprocess.run(["runc", "kill", container.name, "KILL"], capture_output=True)
        runc.wait(timeout=30)
        subprocess.run(["runc", "delete", "--force", container.name], capture_output=True)


def run_once(
    rootfs: Path,
    bundle: Path,
    *,
    user: tuple[int, int],
    argv: Sequence[str],
    env: Sequence[str],
    tmpfs: Sequence[str] = ("/tmp",),
    binds: Mapping[str, Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to completion in a hardened container and return its exit status and output."""
    name = _bundle(bundle, rootfs, user, argv, env, tmpfs, binds)
    try:
        return subprocess.run(
            ["runc", "run", "--bundle", str(bundle), name], capture_output=True, text=True, timeout=60
        )
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True)
