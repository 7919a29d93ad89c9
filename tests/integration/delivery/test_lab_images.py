"""The lab images setup built (`make images`): their names, users, commands and labels, and the stand-ins
running as the operator's builders render their containers (read-only root, no capabilities, emptyDirs as
tmpfs). Reads buildah's storage and the archives; builds nothing. Needs root (runc, buildah's storage)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.oci_run import image_config, mounted_image, run_container, run_once

from kubelocal.wait import eventually
from labimages import LabImage, lab_images, read_recipe
from labimages.archive import references
from webstack_contract.frontend import nginx_conf_template, render_nginx_conf
from webstack_operator.builders import frontend, postgres, redis

_CANNOT = os.geteuid() != 0 or shutil.which("runc") is None or shutil.which("buildah") is None
# Where the real node is required (CI), so are its images: their absence fails rather than skips.
pytestmark = pytest.mark.skipif(
    _CANNOT and os.environ.get("WEBSTACK_REAL_NODE") != "1",
    reason="the lab images are built and run as root with buildah and runc (make images)",
)
LABEL = "webstack.lab"


@pytest.fixture(scope="module")
def images() -> dict[str, LabImage]:
    """The index, checked against the recipes: missing or stale images fail here, naming `make images`."""
    return {image.name: image for image in lab_images()}


def _env(config: dict[str, object]) -> list[str]:
    env = config.get("Env")
    return [str(e) for e in env] if isinstance(env, list) else []


def _labels(reference: str) -> dict[str, str]:
    labels = image_config(reference).get("Labels")
    assert isinstance(labels, dict)
    return {str(k): str(v) for k, v in labels.items()}


def _on_path(rootfs: Path, env: list[str], program: str) -> Path | None:
    path = next(e.split("=", 1)[1] for e in env if e.startswith("PATH="))
    for folder in path.split(":"):
        candidate = rootfs / folder.lstrip("/") / program
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None


def _resolve(rootfs: Path, path: str) -> Path:
    """`path` as the container sees it: symbolic links (e.g. /var/run -> /run) resolved inside the image."""
    resolved = rootfs
    parts = list(Path(path).parts[1:])
    for _ in range(40):
        if not parts:
            return resolved
        candidate = resolved / parts.pop(0)
        if candidate.is_symlink():
            target = Path(os.readlink(candidate))
            parts = [*target.parts[1:], *parts] if target.is_absolute() else [*target.parts, *parts]
            resolved = rootfs if target.is_absolute() else resolved
        else:
            resolved = candidate
    raise AssertionError(f"too many symbolic links resolving {path} in the image")


def _passwd_ids(rootfs: Path, name: str) -> tuple[int, int]:
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {name!r} in the image's /etc/passwd")


def test_every_image_has_a_lab_name_labels_and_an_importable_archive(images: dict[str, LabImage]) -> None:
    for image in images.values():
        assert image.reference.startswith(f"{LABEL}/"), image.reference
        # The recipe's REF: what deploy/overlays/lab and the unit tests derive from the recipes.
        assert image.reference == read_recipe(image.name)["REF"]
        assert references(image.archive) == [image.reference]
        labels = _labels(image.reference)
        assert labels[f"{LABEL}/lab-image"] == "true"
        assert labels[f"{LABEL}/input-hash"] == image.input_hash
        assert image.size_bytes > 0


@pytest.mark.parametrize(
    ("name", "user", "entrypoint"),
    [
        ("users-api", "10001:10001", ["users-api", "serve"]),
        ("operator", "65532:65532", ["webstack-operator", "run"]),
    ],
)
def test_project_images_keep_their_dockerfile_and_state_the_lab_python(
    images: dict[str, LabImage], name: str, user: str, entrypoint: list[str]
) -> None:
    image = images[name]
    config = image_config(image.reference)
    assert config["User"] == user
    assert config["Entrypoint"] == entrypoint
    labels = _labels(image.reference)
    assert labels[f"{LABEL}/python-version"] == image.python_version == images["python"].python_version
    assert image.python_version is not None and image.python_version.startswith("3.11.")
    assert "3.11.14" in labels[f"{LABEL}/python-version-release"]
    assert "mmdebstrap" in labels[f"{LABEL}/base"]


def _package_files(rootfs: Path) -> dict[str, bytes]:
    package = rootfs / "opt/venv/lib/python3.11/site-packages/users_api"
    return {
        str(path.relative_to(package)): path.read_bytes()
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_bad_release_is_the_users_api_with_one_defect_no_migration_fixes(
    images: dict[str, LabImage],
) -> None:
    """users-api-broken (the canary on real pods aborts it) runs the users API as built, but for its four
    queries of a user row, which read `display_name`: a column no migration of the image creates."""
    good, bad = images["users-api"].reference, images["users-api-broken"].reference
    for key in ("User", "Entrypoint", "ExposedPorts"):
        assert image_config(bad).get(key) == image_config(good).get(key), key
    with mounted_image(good) as good_root, mounted_image(bad) as bad_root:
        good_files, bad_files = _package_files(good_root), _package_files(bad_root)
    assert good_files.keys() == bad_files.keys()
    assert [name for name in good_files if good_files[name] != bad_files[name]] == ["users.py"]
    before, after = good_files["users.py"].decode().splitlines(), bad_files["users.py"].decode().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 4, changed
    for old, new in changed:
        assert new == old.replace("id, email, name,", "id, email, display_name AS name,"), (old, new)
    migrations = [text for name, text in bad_files.items() if name.startswith("migrations/")]
    assert migrations and not any(b"display_name" in text for text in migrations)


POSTGRES_RECIPES = {"17": "postgres", "15": "postgres15"}


@pytest.mark.parametrize("major", sorted(POSTGRES_RECIPES))
def test_the_postgres_stand_in_has_the_alpine_images_user_paths_and_tools(
    images: dict[str, LabImage], major: str
) -> None:
    reference = images[POSTGRES_RECIPES[major]].reference
    assert reference == f"{LABEL}/postgres:{major}-alpine"
    config = image_config(reference)
    assert config["User"] == f"{postgres.POSTGRES_UID}:{postgres.POSTGRES_GID}"
    with mounted_image(reference) as rootfs:
        assert _passwd_ids(rootfs, "postgres") == (postgres.POSTGRES_UID, postgres.POSTGRES_GID)
        socket_dir = _resolve(rootfs, postgres.SOCKET_DIR)
        assert socket_dir.is_dir(), socket_dir
        assert socket_dir.stat().st_uid == postgres.POSTGRES_UID
        for program in ("postgres", "initdb", "pg_isready", "pg_dump", "psql", "docker-entrypoint.sh", "sh"):
            assert _on_path(rootfs, _env(config), program) is not None, program
        assert f"postgresql-{major} {major}." in _labels(reference)[f"{LABEL}/debian-package"]


def test_the_base_is_the_shell_image_helper_pods_need(images: dict[str, LabImage]) -> None:
    """The storage provisioner's helper pod runs `sh -c` with mkdir, rm and chmod: the lab base has them."""
    reference = images["python"].reference
    with mounted_image(reference) as rootfs:
        for program in ("sh", "mkdir", "rm", "chmod"):
            assert _on_path(rootfs, _env(image_config(reference)), program), program


def test_redis_nginx_and_pause_stand_ins_have_the_official_users_and_commands(
    images: dict[str, LabImage],
) -> None:
    assert image_config(images["redis"].reference)["User"] == f"{redis.REDIS_UID}:{redis.REDIS_GID}"
    assert image_config(images["nginx"].reference)["User"] == f"{frontend.NGINX_UID}:{frontend.NGINX_GID}"
    assert image_config(images["pause"].reference)["Entrypoint"] == ["/catatonit", "-P"]
    with mounted_image(images["redis"].reference) as rootfs:
        assert _passwd_ids(rootfs, "redis") == (redis.REDIS_UID, redis.REDIS_GID)
        for program in ("redis-server", "redis-cli", "sh", "grep", "cat"):
            assert _on_path(rootfs, _env(image_config(images["redis"].reference)), program), program
    with mounted_image(images["nginx"].reference) as rootfs:
        assert _passwd_ids(rootfs, "nginx") == (frontend.NGINX_UID, frontend.NGINX_GID)
        assert (rootfs / "etc/nginx/mime.types").is_file()


@pytest.fixture(params=sorted(POSTGRES_RECIPES))
def postgres_image(request: pytest.FixtureRequest, images: dict[str, LabImage]) -> Iterator[tuple[str, Path]]:
    """Each Postgres stand-in's reference and mounted root filesystem."""
    reference = images[POSTGRES_RECIPES[request.param]].reference
    with mounted_image(reference) as rootfs:
        yield reference, rootfs


def _credentials(folder: Path, username: str, password: str) -> Path:
    """The credentials Secret's volume as the kubelet makes it: whole keys as files, 0440, group 70."""
    folder.mkdir()
    os.chown(folder, 0, postgres.POSTGRES_GID)
    folder.chmod(0o750)
    for key, value in (("username", username), ("password", password)):
        (folder / key).write_text(value)
        os.chown(folder / key, 0, postgres.POSTGRES_GID)
        (folder / key).chmod(0o440)
    return folder


def test_the_postgres_entrypoint_initialises_an_empty_volume_and_the_sidecar_syncs_the_password(
    postgres_image: tuple[str, Path], tmp_path: Path
) -> None:
    """initdb with the builder's arguments, the database created, scram for TCP, trust on the socket: the
    credentials-sync sidecar's script, run in the same image, then sets a new password over the socket."""
    reference, rootfs = postgres_image
    volume = tmp_path / "volume"
    volume.mkdir()
    os.chown(volume, postgres.POSTGRES_UID, postgres.POSTGRES_GID)
    credentials = _credentials(tmp_path / "credentials", "shop", "rotated-password-2")
    env = [e for e in _env(image_config(reference)) if not e.startswith("PGDATA=")]
    env += [
        "POSTGRES_USER=shop",
        "POSTGRES_PASSWORD=lab-password-1",
        "POSTGRES_DB=shopdb",
        f"PGDATA={postgres.PGDATA}",
        f"POSTGRES_INITDB_ARGS={postgres.INITDB_ARGS}",
        f"POSTGRES_HOST_AUTH_METHOD={postgres.PASSWORD_ENCRYPTION}",
    ]
    argv = ["docker-entrypoint.sh", "postgres", "-c", f"password_encryption={postgres.PASSWORD_ENCRYPTION}"]
    tmpfs = (postgres.SOCKET_DIR, "/tmp", "/dev/shm")
    binds = {postgres.DATA_MOUNT: volume, postgres.CREDENTIALS_MOUNT: credentials}
    with run_container(
        rootfs, tmp_path / "bundle", user=(70, 70), argv=argv, env=env, tmpfs=tmpfs, binds=binds
    ) as container:
        probe = ["/bin/sh", "-c", postgres._PG_ISREADY]
        eventually(
            lambda: container.exec(*probe).returncode == 0, timeout=40, what=f"pg_isready ({container.log})"
        )
        query = "SELECT datname FROM pg_database WHERE datname = 'shopdb'"
        found = container.exec(
            "psql", "--no-psqlrc", "-tA", "--username=shop", "--dbname=postgres", "-c", query
        )
        assert found.stdout.strip() == "shopdb", found

        def tcp_login(password: str) -> str:
            login = [
                "psql",
                "-tA",
                "--username=shop",
                "--host=127.0.0.1",
                "--dbname=shopdb",
                "-c",
                "SELECT 1",
            ]
            return container.exec(*login, env={"PGPASSWORD": password}).stdout.strip()

        assert tcp_login("lab-password-1") == "1"
        sync_env = {
            "CREDENTIALS_DIR": postgres.CREDENTIALS_MOUNT,
            "SYNC_INTERVAL_SECONDS": "1",
            "PGHOST": postgres.SOCKET_DIR,
            "PGPORT": str(postgres.POSTGRES_PORT),
            "PGCONNECT_TIMEOUT": "5",
        }
        sync_log = tmp_path / "credentials-sync.log"
        sidecar = container.start(sync_log, "/bin/sh", "-c", postgres.CREDENTIALS_SYNC_SCRIPT, env=sync_env)
        eventually(
            lambda: tcp_login("rotated-password-2"),
            until=lambda out: out == "1",
            timeout=30,
            what=f"the rotated password accepted ({sync_log})",
        )
        assert tcp_login("lab-password-1") != "1"
    sidecar.wait(timeout=30)
    assert "password of role shop synced" in sync_log.read_text()
    hba = (volume / "pgdata" / "pg_hba.conf").read_text()
    assert "host all all all scram-sha-256" in hba
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert ["local", "all", "all", "trust"] in rules


def test_the_nginx_stand_in_loads_the_operators_rendered_config_on_a_read_only_root(
    images: dict[str, LabImage], tmp_path: Path
) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render_nginx_conf(
            nginx_conf_template(),
            listen_port=frontend.LISTEN_PORT,
            backend_url="http://127.0.0.1:8000",
            static_root=frontend.STATIC_ROOT,
        )
    )
    with mounted_image(images["nginx"].reference) as rootfs:
        result = run_once(
            rootfs,
            tmp_path / "bundle",
            user=(101, 101),
            argv=["nginx", "-t"],
            env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            binds={"/etc/nginx/nginx.conf": conf},
        )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_redis_stand_in_serves_with_the_builders_arguments_and_password_file(
    images: dict[str, LabImage], tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    auth.mkdir()
    password = "lab-redis-password-0123"
    (auth / redis.CONFIG_KEY).write_text(redis.redis_auth_config(password))
    (auth / redis.PASSWORD_KEY).write_text(password)
    for path in (auth, *auth.iterdir()):
        os.chown(path, 0, redis.REDIS_GID)
        path.chmod(0o750 if path.is_dir() else 0o440)
    config = image_config(images["redis"].reference)
    with (
        mounted_image(images["redis"].reference) as rootfs,
        run_container(
            rootfs,
            tmp_path / "bundle",
            user=(redis.REDIS_UID, redis.REDIS_GID),
            argv=["docker-entrypoint.sh", *redis.redis_server_args("64mb")],
            env=_env(config),
            tmpfs=("/data", "/tmp"),
            binds={redis.AUTH_MOUNT: auth},
        ) as container,
    ):
        probe = ["/bin/sh", "-c", redis._PING]
        eventually(
            lambda: container.exec(*probe).returncode == 0, timeout=20, what=f"redis PONG ({container.log})"
        )
        unauthenticated = container.exec("redis-cli", "-h", "127.0.0.1", "ping")
        assert "NOAUTH" in unauthenticated.stdout + unauthenticated.stderr
