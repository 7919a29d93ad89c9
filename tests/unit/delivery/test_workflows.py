"""The delivery workflows: CI gates pull requests; the release pushes with OIDC credentials only, bumps
the tags the overlays really use, and cannot trigger itself (or CI) with its own bump commit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts.bump_image_tag import bump_text

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def run_scripts(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def github_path_matches(pattern: str, path: str) -> bool:
    """GitHub's filter globs: `**` crosses directories, `*` does not."""
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


def push_triggers_release(changed: list[str]) -> bool:
    paths = load("release.yaml")["on"]["push"]["paths"]
    return any(github_path_matches(p, f) for f in changed for p in paths)


def bump_commands() -> list[tuple[str, list[str]]]:
    """(kustomization path with $OVERLAY, IMAGE=TAG args) of every bump_image_tag.py call in release.yaml."""
    calls = []
    for line in run_scripts(load("release.yaml")).splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "scripts/bump_image_tag.py":
            calls.append((words[2].strip('"'), [w.strip('"') for w in words[3:]]))
    return calls


def test_ci_lints_and_tests_pull_requests_and_main() -> None:
    ci = load("ci.yaml")
    assert "pull_request" in ci["on"]
    assert ci["on"]["push"]["branches"] == ["main"]
    commands = run_scripts(ci)
    assert "make lint" in commands
    assert "make test" in commands
    assert ci["permissions"] == {"contents": "read"}


def test_release_runs_on_main() -> None:
    release = load("release.yaml")
    assert release["on"]["push"]["branches"] == ["main"]


def test_release_uses_oidc_and_no_stored_aws_keys() -> None:
    release = load("release.yaml")
    text = (WORKFLOWS / "release.yaml").read_text()
    for forbidden in (
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert forbidden not in text
    assert "secrets." not in text, "release.yaml needs no stored secret at all"
    aws = [
        s for s in steps(release) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert len(aws) == 1
    assert aws[0]["with"]["role-to-assume"]
    job = next(j for j in release["jobs"].values() if aws[0] in j["steps"])
    assert job["permissions"]["id-token"] == "write"
    assert release["permissions"] == {"contents": "read"}  # write access only where a job asks for it


def test_release_builds_both_images_into_the_repositories_the_overlays_name() -> None:
    release = load("release.yaml")
    builds = [s for s in steps(release) if s.get("uses", "").startswith("docker/build-push-action@")]
    pushed = {}
    for build in builds:
        assert (ROOT / build["with"]["file"]).is_file()
        assert build["with"]["push"] is True
        repository = build["with"]["tags"].split("}}/", 1)[1].split(":", 1)[0]
        pushed[build["with"]["file"]] = repository
    assert pushed == {"Dockerfile.operator": "webstack-operator", "Dockerfile.webapp": "users-api"}
    for overlay in ("dev", "prod"):
        for path in (
            f"deploy/overlays/{overlay}/kustomization.yaml",
            f"deploy/overlays/{overlay}/stack/kustomization.yaml",
        ):
            for image in yaml.safe_load((ROOT / path).read_text())["images"]:
                assert image["newName"].endswith(f".amazonaws.com/{image['name']}"), path
                assert image["name"] in pushed.values(), path


def test_the_bump_edits_the_prod_overlay_with_both_new_tags() -> None:
    calls = bump_commands()
    assert [(p.replace("$OVERLAY", "prod"), a) for p, a in calls] == [
        ("deploy/overlays/prod/kustomization.yaml", ["webstack-operator=$TAG"]),
        ("deploy/overlays/prod/stack/kustomization.yaml", ["users-api=$TAG"]),
    ]
    bump = load("release.yaml")["jobs"]["bump"]
    assert bump["env"]["OVERLAY"] == "${{ inputs.overlay || 'prod' }}"
    for overlay in ("prod", "dev"):
        for path, args in calls:
            target = ROOT / path.replace("$OVERLAY", overlay)
            name = args[0].split("=")[0]
            after, changes = bump_text(target.read_text(), {name: "sha-0123456789ab"}, str(target))
            assert changes and yaml.safe_load(after)["images"][0]["newTag"] == "sha-0123456789ab"


def test_the_bump_commit_skips_ci_and_cannot_start_a_release() -> None:
    release = load("release.yaml")
    commands = run_scripts(release)
    commit = re.search(r'git commit -m "([^"]+)"', commands)
    assert commit is not None and "[skip ci]" in commit.group(1)
    assert "github-actions[bot]" in commands  # the author the jobs' `if` skips
    # The bump commit changes only the overlays: no release starts from it, whatever its message says.
    bumped = [p.replace("$OVERLAY", o) for p, _ in bump_commands() for o in ("prod", "dev")]
    assert not push_triggers_release(bumped)
    assert push_triggers_release(["operator/webstack_operator/handlers.py"])
    assert push_triggers_release(["webapp/users_api/app.py"])
    assert push_triggers_release(["Dockerfile.operator"])
    for job in release["jobs"].values():
        if "needs" not in job:
            assert "github.actor != 'github-actions[bot]'" in job["if"]
            assert "!contains(github.event.head_commit.message, '[skip ci]')" in job["if"]


def test_releases_run_one_at_a_time_in_order() -> None:
    """A queued release waits; an older run can never push its tag over a newer one."""
    concurrency = load("release.yaml")["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    assert "${{" not in concurrency["group"]  # one group for every ref


@pytest.mark.parametrize("name", ["ci.yaml", "release.yaml"])
def test_every_job_has_a_timeout(name: str) -> None:
    for job_name, job in load(name)["jobs"].items():
        assert job.get("timeout-minutes"), f"{name}: job {job_name} has no timeout"
