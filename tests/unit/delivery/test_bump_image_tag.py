"""scripts/bump_image_tag.py: the release workflow's bump pins each image to its tag and digest, editing
only the `newTag` and `digest` lines, byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scripts.bump_image_tag import BumpError, bump_file, bump_text, needs_quotes

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "bump_image_tag.py"
PROD = ROOT / "deploy" / "overlays" / "prod" / "kustomization.yaml"
PROD_STACK = ROOT / "deploy" / "overlays" / "prod" / "stack" / "kustomization.yaml"
OVERLAYS = [
    ROOT / "deploy" / "overlays" / path / "kustomization.yaml"
    for path in ("prod", "prod/stack", "dev", "dev/stack", "namespaced")
]
DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER_DIGEST = "sha256:" + "fedcba9876543210" * 4

SAMPLE = """\
# header comment
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../operator   # the base
images:
  # the operator
  - name: webstack-operator
    newName: 1234.dkr.ecr.eu-west-1.amazonaws.com/webstack-operator
    newTag: 0.1.0 # bumped by CI

  - newName: 1234.dkr.ecr.eu-west-1.amazonaws.com/users-api
    newTag: "0.1.0"
    name: users-api
patches:
  - target:
      name: webstack-operator
    patch: |-
      - op: add
        path: /metadata/labels/newTag
        value: 0.1.0
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    """The script as the workflow runs it."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_the_real_prod_overlay_gets_the_tag_and_a_digest_line(tmp_path: Path) -> None:
    target = tmp_path / "kustomization.yaml"
    original = PROD.read_bytes()
    target.write_bytes(original)
    result = run_script(str(target), f"webstack-operator=sha-0123456789ab@{DIGEST}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{target}: webstack-operator: 0.1.0 -> sha-0123456789ab@{DIGEST}\n"
    old_lines, new_lines = original.splitlines(keepends=True), target.read_bytes().splitlines(keepends=True)
    tag_at = next(i for i, line in enumerate(old_lines) if line.strip().startswith(b"newTag:"))
    indent = old_lines[tag_at][: old_lines[tag_at].index(b"newTag")]
    assert new_lines[:tag_at] == old_lines[:tag_at]
    assert new_lines[tag_at] == indent + b"newTag: sha-0123456789ab\n"
    assert new_lines[tag_at + 1] == indent + f"digest: {DIGEST}\n".encode()  # under newTag, same column
    assert new_lines[tag_at + 2 :] == old_lines[tag_at + 1 :]
    [image] = [i for i in yaml.safe_load(target.read_text())["images"] if i["name"] == "webstack-operator"]
    assert (image["newTag"], image["digest"]) == ("sha-0123456789ab", DIGEST)


def test_a_new_release_replaces_the_digest_in_place(tmp_path: Path) -> None:
    target = tmp_path / "kustomization.yaml"
    target.write_bytes(PROD_STACK.read_bytes())
    assert run_script(str(target), f"users-api=sha-0123456789ab@{DIGEST}").returncode == 0
    first = target.read_text()
    result = run_script(str(target), f"users-api=sha-ba9876543210@{OTHER_DIGEST}")
    assert result.returncode == 0, result.stderr
    assert f"users-api: sha-0123456789ab@{DIGEST} -> sha-ba9876543210@{OTHER_DIGEST}" in result.stdout
    assert changed_lines(first, target.read_text()) == [
        ("    newTag: sha-0123456789ab\n", "    newTag: sha-ba9876543210\n"),
        (f"    digest: {DIGEST}\n", f"    digest: {OTHER_DIGEST}\n"),
    ]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: str(p.parent.relative_to(ROOT / "deploy")))
def test_every_overlay_the_release_bumps_takes_a_digest(overlay: Path) -> None:
    """The overlays name their images in the one shape the editor knows; none is pinned by hand yet."""
    text = overlay.read_text()
    [image] = yaml.safe_load(text)["images"]
    after, changes = bump_text(text, {image["name"]: f"sha-0123456789ab@{DIGEST}"}, str(overlay))
    assert len(changes) == 1
    [pinned] = yaml.safe_load(after)["images"]
    assert pinned == {**image, "newTag": "sha-0123456789ab", "digest": DIGEST}


def test_only_named_images_change_and_comments_survive() -> None:
    after, changes = bump_text(SAMPLE, {"users-api": "sha-feed"})
    assert changed_lines(SAMPLE, after) == [('    newTag: "0.1.0"\n', '    newTag: "sha-feed"\n')]
    assert changes == ["kustomization.yaml: users-api: 0.1.0 -> sha-feed"]
    after, _ = bump_text(SAMPLE, {"webstack-operator": "sha-beef", "users-api": "sha-feed"})
    assert changed_lines(SAMPLE, after) == [
        ("    newTag: 0.1.0 # bumped by CI\n", "    newTag: sha-beef # bumped by CI\n"),
        ('    newTag: "0.1.0"\n', '    newTag: "sha-feed"\n'),
    ]
    parsed = yaml.safe_load(after)
    assert parsed["patches"][0]["patch"].endswith("value: 0.1.0")  # a lookalike outside images: is kept


def test_line_endings_and_indentless_lists_are_kept() -> None:
    text = "images:\r\n- name: api\r\n  newTag: v1\r\nresources:\r\n- base\r\n"
    after, _ = bump_text(text, {"api": "v2"})
    assert after == "images:\r\n- name: api\r\n  newTag: v2\r\nresources:\r\n- base\r\n"
    after, _ = bump_text(text, {"api": f"v2@{DIGEST}"})
    assert (
        after == f"images:\r\n- name: api\r\n  newTag: v2\r\n  digest: {DIGEST}\r\nresources:\r\n- base\r\n"
    )


def test_the_digest_goes_under_newtag_whatever_the_key_order() -> None:
    text = "images:\n  - newTag: v1 # ours\n    name: api\n  - name: db\n    newTag: '1'"
    after, changes = bump_text(text, {"db": f"2@{DIGEST}", "api": f"v2@{OTHER_DIGEST}"})
    assert after == (
        f"images:\n  - newTag: v2 # ours\n    digest: {OTHER_DIGEST}\n    name: api\n"
        f"  - name: db\n    newTag: '2'\n    digest: {DIGEST}"
    )
    assert changes == [
        f"kustomization.yaml: db: 1 -> 2@{DIGEST}",
        f"kustomization.yaml: api: v1 -> v2@{OTHER_DIGEST}",
    ]
    assert yaml.safe_load(after)["images"] == [
        {"newTag": "v2", "digest": OTHER_DIGEST, "name": "api"},
        {"name": "db", "newTag": "2", "digest": DIGEST},
    ]


@pytest.mark.parametrize("tag", ["1.10", "2024", "1e3", "0x1f", "on", "NO", "null", "1_000", "0o17"])
def test_tags_yaml_would_misread_are_quoted(tag: str) -> None:
    assert needs_quotes(tag)
    after, _ = bump_text("images:\n  - name: api\n    newTag: v1\n", {"api": tag})
    assert yaml.safe_load(after)["images"][0]["newTag"] == tag


@pytest.mark.parametrize("tag", ["sha-0123456789ab", "v1.2.3", "1.2.3-rc.1", "main_2024"])
def test_plain_tags_stay_plain(tag: str) -> None:
    assert not needs_quotes(tag)
    after, _ = bump_text("images:\n  - name: api\n    newTag: v1\n", {"api": tag})
    assert after == f"images:\n  - name: api\n    newTag: {tag}\n"


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "kustomization.yaml"
    target.write_text(SAMPLE)
    pin = f"sha-1@{DIGEST}"
    assert bump_file(target, {"users-api": pin}) == [f"{target}: users-api: 0.1.0 -> {pin}"]
    first = target.read_bytes()
    assert bump_file(target, {"users-api": pin}) == []
    assert target.read_bytes() == first
    result = run_script(str(target), f"users-api={pin}")
    assert result.returncode == 0 and "already up to date" in result.stdout


@pytest.mark.parametrize(
    ("text", "assignment", "message"),
    [
        (SAMPLE, "frontend=v2", "no image named 'frontend' in images: (found: users-api, webstack-operator)"),
        ("images:\n  - name: api\n    newName: x/api\n", "api=v2", "image 'api' has no newTag: to set"),
        ("resources:\n  - base\n", "api=v2", "no top-level `images:` list"),
        (SAMPLE, "users-api=bad/tag", "not a valid image tag"),
        (SAMPLE, "users-api=-dash", "not a valid image tag"),
        ("images:\n  - {name: api, newTag: v1}\n", "api=v2", "expected `- key: value` in images:"),
        (SAMPLE, f"users-api=v2@{DIGEST.upper()}", "not a valid digest"),
        (SAMPLE, "users-api=v2@sha256:0123", "not a valid digest"),
        (SAMPLE, f"users-api=v2@sha512:{'0' * 128}", "not a valid digest"),
        (SAMPLE, f"users-api=@{DIGEST}", "not a valid image tag"),
        (
            f"images:\n  - name: api\n    newTag: v1\n    digest: {DIGEST}\n",
            "api=v2",
            f"image 'api' is pinned by digest ({DIGEST}): give api=TAG@sha256:<digest>",
        ),
    ],
)
def test_refusals_name_the_problem_and_leave_the_file_untouched(
    tmp_path: Path, text: str, assignment: str, message: str
) -> None:
    target = tmp_path / "kustomization.yaml"
    target.write_text(text)
    result = run_script(str(target), assignment)
    assert result.returncode == 2
    assert message in result.stderr
    assert target.read_text() == text


def test_usage_errors() -> None:
    assert run_script("kustomization.yaml", "no-equals-sign").returncode == 2
    with pytest.raises(BumpError, match="cannot read"):
        bump_file(Path("/nonexistent/kustomization.yaml"), {"api": "v1"})
