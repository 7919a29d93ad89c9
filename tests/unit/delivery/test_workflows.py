"""The delivery workflows, read as data: CI gates every change; the release runs only after CI passed on main,
builds both images, keeps their SBOM, fails on critical vulnerabilities, signs and attests them keylessly,
and only then pins the overlays to their digests; its bump commit cannot start another release.

The release's own scripts (the plan, the bump) are run for real against a scratch git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE_CALL = "./.github/workflows/release.yaml"
IMAGES = {"webstack-operator": "Dockerfile.operator", "users-api": "Dockerfile.webapp"}
DIGESTS = {"webstack-operator": "sha256:" + "a1" * 32, "users-api": "sha256:" + "b2" * 32}
STATUS_FUNCTIONS = re.compile(r"\b(always|failure|cancelled|success)\s*\(")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


def release() -> dict[str, Any]:
    return load("release.yaml")


def job_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def all_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job_steps(job)]


def run_scripts(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in all_steps(workflow))


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(f"{action}@")


def index_of(steps: list[dict[str, Any]], what: str, predicate: Any) -> int:
    found = [i for i, step in enumerate(steps) if predicate(step)]
    assert len(found) == 1, f"expected exactly one {what} step, found {len(found)}"
    return found[0]


def images_job() -> dict[str, Any]:
    return dict(release()["jobs"]["images"])


def images_steps() -> list[dict[str, Any]]:
    return job_steps(images_job())


def build_step() -> dict[str, Any]:
    steps = images_steps()
    return steps[index_of(steps, "build", lambda s: uses(s, "docker/build-push-action"))]


def image_ref() -> str:
    """The expression every check after the build uses: the pushed image by digest, never by tag."""
    steps = images_steps()
    step = steps[index_of(steps, "image reference", lambda s: s.get("id") == "image")]
    assert step["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    assert 'echo "ref=$REPOSITORY@$DIGEST"' in step["run"]
    assert re.search(r"\^sha256:\[0-9a-f\]\{64\}\$", step["run"]), "the digest is not checked before use"
    return "${{ steps.image.outputs.ref }}"


def runs(step: dict[str, Any], pattern: str) -> bool:
    return re.search(pattern, step.get("run", ""), re.MULTILINE) is not None


# --- CI and the gate --------------------------------------------------------------------------------------


def test_ci_lints_and_tests_pull_requests_and_main() -> None:
    ci = load("ci.yaml")
    assert "pull_request" in ci["on"]
    assert ci["on"]["push"]["branches"] == ["main"]
    assert "make lint" in ci["jobs"]["lint"]["steps"][-1]["run"]
    assert "make test" in run_scripts({"jobs": {"test": ci["jobs"]["test"]}})
    assert ci["permissions"] == {"contents": "read"}


def test_the_release_has_no_trigger_of_its_own() -> None:
    """Only a caller can start it: no push, tag, schedule, dispatch or workflow_run of its own."""
    assert set(release()["on"]) == {"workflow_call"}
    assert set(release()["on"]["workflow_call"]["inputs"]) == {"overlay"}


def test_the_release_runs_only_after_lint_and_tests_passed_on_main() -> None:
    ci = load("ci.yaml")
    callers = [
        (name, job)
        for workflow in sorted(WORKFLOWS.glob("*.yaml"))
        for name, job in load(workflow.name)["jobs"].items()
        if job.get("uses") == RELEASE_CALL
    ]
    assert [name for name, _ in callers] == ["release"], "release.yaml must have exactly one caller"
    job = ci["jobs"]["release"]
    assert sorted(job["needs"]) == ["lint", "test"]
    condition = job["if"]
    # GitHub adds `success()` to an `if` without a status function: every need passed, none was skipped.
    # always(), failure() or cancelled() would let a red or cancelled CI through.
    assert not STATUS_FUNCTIONS.search(condition), condition
    clauses = [c.strip() for c in condition.split("&&")]
    assert "github.ref == 'refs/heads/main'" in clauses  # top-level conjuncts: each one is required
    assert "(github.event_name == 'push' || github.event_name == 'workflow_dispatch')" in clauses
    assert "||" not in condition.replace(clauses[1], "")  # no other disjunction that could bypass them
    assert ci["on"]["push"]["branches"] == ["main"]
    assert set(ci["on"]) == {
        "pull_request",
        "push",
        "workflow_dispatch",
    }  # no workflow_run, no pull_request_target


def test_pull_requests_never_hold_a_token_that_can_write() -> None:
    """Untrusted code runs in lint and test only, with a read-only token; writing is for the release."""
    ci = load("ci.yaml")
    assert ci["permissions"] == {"contents": "read"}
    for name, job in ci["jobs"].items():
        if name != "release":
            assert "permissions" not in job, f"ci.yaml job {name} widens the read-only token"
    assert ci["jobs"]["release"]["permissions"] == {"contents": "write", "id-token": "write"}


def test_releases_run_one_at_a_time_in_order() -> None:
    """A waiting release is replaced by a newer one (which contains it); none is cancelled mid-way, and CI on
    main runs one commit at a time, so releases happen in commit order."""
    ci = load("ci.yaml")
    concurrency = ci["jobs"]["release"]["concurrency"]
    assert concurrency == {"group": "release", "cancel-in-progress": False}
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


# --- Build, SBOM, scan, signature, provenance ----------------------------------------------------------


def test_the_release_builds_both_images_into_the_repositories_the_overlays_name() -> None:
    job = images_job()
    matrix = {entry["image"]: entry["dockerfile"] for entry in job["strategy"]["matrix"]["include"]}
    assert matrix == IMAGES
    build = build_step()["with"]
    assert build["file"] == "${{ matrix.dockerfile }}"
    assert build["push"] is True
    assert build["tags"].endswith("/${{ matrix.image }}:${{ needs.plan.outputs.tag }}")
    for dockerfile in matrix.values():
        assert (ROOT / dockerfile).is_file()
    for overlay in ("dev", "prod"):
        for path in (
            f"deploy/overlays/{overlay}/kustomization.yaml",
            f"deploy/overlays/{overlay}/stack/kustomization.yaml",
        ):
            for image in yaml.safe_load((ROOT / path).read_text())["images"]:
                assert image["newName"].endswith(f".amazonaws.com/{image['name']}"), path
                assert image["name"] in matrix, path


def test_the_release_uses_oidc_and_no_stored_keys() -> None:
    text = (WORKFLOWS / "release.yaml").read_text()
    for forbidden in (
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "COSIGN_PRIVATE_KEY",
    ):
        assert forbidden not in text
    assert "secrets." not in text, "release.yaml needs no stored secret at all"
    assert release()["permissions"] == {"contents": "read"}  # write access only where a job asks for it
    steps = images_steps()
    aws = steps[
        index_of(steps, "AWS credentials", lambda s: uses(s, "aws-actions/configure-aws-credentials"))
    ]
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_RELEASE_ROLE_ARN }}"
    assert images_job()["permissions"] == {"contents": "read", "id-token": "write"}


def test_every_image_gets_an_sbom_kept_with_the_run_and_attested() -> None:
    assert build_step()["with"]["sbom"] is True
    steps = images_steps()
    sbom = index_of(steps, "SBOM", lambda s: runs(s, r"imagetools inspect \"\$REF\" .*\.SBOM\.SPDX"))
    assert steps[sbom]["env"]["REF"] == image_ref()
    assert runs(steps[sbom], r"> sbom\.spdx\.json$")
    assert runs(steps[sbom], r"jq -e '\.spdxVersion"), "an empty SBOM must fail the step"
    keep = index_of(
        steps, "SBOM upload", lambda s: uses(s, "actions/upload-artifact") and "sbom" in s["with"]["name"]
    )
    assert steps[keep]["with"]["path"] == "sbom.spdx.json"
    assert steps[keep]["with"]["if-no-files-found"] == "error"
    attest = index_of(steps, "SBOM attestation", lambda s: runs(s, r"cosign attest .*--type spdxjson"))
    assert runs(steps[attest], r'^cosign attest --yes --type spdxjson --predicate sbom\.spdx\.json "\$REF"$')
    assert sbom < attest


def test_the_scan_fails_the_release_on_a_critical_vulnerability() -> None:
    steps = images_steps()
    scan = steps[index_of(steps, "scan", lambda s: uses(s, "aquasecurity/trivy-action"))]["with"]
    assert scan["image-ref"] == image_ref()  # the pushed digest, not a tag someone could move
    assert scan["severity"] == "CRITICAL"
    assert str(scan["exit-code"]) == "1"
    assert scan.get("scan-type", "image") == "image"
    assert "os" in scan["vuln-type"] and "library" in scan["vuln-type"]
    assert (
        "continue-on-error"
        not in steps[index_of(steps, "scan", lambda s: uses(s, "aquasecurity/trivy-action"))]
    )


def test_images_are_signed_keylessly_with_the_workflow_identity() -> None:
    assert images_job()["permissions"]["id-token"] == "write"  # the OIDC token Fulcio certifies
    steps = images_steps()
    index_of(steps, "cosign installer", lambda s: uses(s, "sigstore/cosign-installer"))
    sign = steps[index_of(steps, "sign", lambda s: runs(s, r"cosign sign\b"))]
    assert sign["run"].strip() == 'cosign sign --yes "$REF"'  # no --key: keyless
    assert sign["env"]["REF"] == image_ref()
    text = (WORKFLOWS / "release.yaml").read_text()
    assert not re.search(r"--key\b|COSIGN_KEY|cosign generate-key-pair", text)


def test_the_provenance_is_recorded_and_attested() -> None:
    assert build_step()["with"]["provenance"] == "mode=max"
    steps = images_steps()
    attest = steps[index_of(steps, "provenance", lambda s: runs(s, r"predicate provenance\.json"))]
    assert attest["env"]["REF"] == image_ref()
    assert runs(
        attest,
        r"imagetools inspect \"\$REF\" --format '\{\{ json \.Provenance\.SLSA \}\}' > provenance\.json",
    )
    assert runs(attest, r'^cosign attest --yes --type "\$type" --predicate provenance\.json "\$REF"$')
    assert runs(attest, r"^ +type=slsaprovenance1$") and runs(attest, r"^ +type=slsaprovenance$")
    assert runs(attest, r"^ +exit 1$"), "a build without provenance must fail the release"


def test_only_a_scanned_and_signed_digest_reaches_the_bump() -> None:
    """Steps run in order and stop at the first failure: the digest is handed on last, or not at all."""
    steps = images_steps()
    order = [
        index_of(steps, "build", lambda s: uses(s, "docker/build-push-action")),
        index_of(steps, "scan", lambda s: uses(s, "aquasecurity/trivy-action")),
        index_of(steps, "sign", lambda s: runs(s, r"cosign sign\b")),
        index_of(steps, "provenance", lambda s: runs(s, r"predicate provenance\.json")),
        index_of(steps, "digest hand-off", lambda s: runs(s, r'echo "\$DIGEST" > "digest/\$IMAGE"')),
        index_of(
            steps,
            "digest upload",
            lambda s: uses(s, "actions/upload-artifact") and "digest" in s["with"]["name"],
        ),
    ]
    assert order == sorted(order), order
    assert not any(step.get("continue-on-error") or "if" in step for step in steps)
    assert "continue-on-error" not in images_job()
    bump = release()["jobs"]["bump"]
    assert "images" in bump["needs"]
    assert "if" not in bump, "the bump runs only when every image job succeeded"
    download = job_steps(bump)[
        index_of(job_steps(bump), "download", lambda s: uses(s, "actions/download-artifact"))
    ]
    assert download["with"]["pattern"] == "digest-*"


# --- The plan and the bump, run for real -----------------------------------------------------------------


def step_script(job: str, name_part: str) -> str:
    steps = job_steps(release()["jobs"][job])
    return str(steps[index_of(steps, name_part, lambda s: name_part in s.get("name", ""))]["run"])


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As GitHub runs a `run:` step with shell bash."""
    full_env = {"PATH": os.environ["PATH"], "HOME": str(cwd), **env}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )


class Repo:
    """A scratch git repository shaped like this one where it matters to the plan."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.git("init", "-q", "-b", "main")
        for relative in ("deploy/overlays/prod/kustomization.yaml", "deploy/overlays/dev/kustomization.yaml"):
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / relative, path / relative)
        self.write("operator/webstack_operator/controller/handlers.py", "v1\n")
        self.write("docs/index.md", "v1\n")

    def git(self, *args: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def write(self, relative: str, text: str) -> None:
        (self.path / relative).parent.mkdir(parents=True, exist_ok=True)
        (self.path / relative).write_text(text)

    def commit(self, relative: str, text: str) -> str:
        self.write(relative, text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"change {relative}")
        self.git("update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout's full fetch leaves
        return self.git("rev-parse", "HEAD")

    def deploy(self, sha: str) -> str:
        """The bump commit: the prod overlay now runs `sha`."""
        overlay = self.path / "deploy/overlays/prod/kustomization.yaml"
        text = re.sub(r"newTag: .*", f"newTag: sha-{sha[:12]}", overlay.read_text())
        return self.commit("deploy/overlays/prod/kustomization.yaml", text)

    def plan(self, sha: str, event: str = "push", overlay: str = "prod") -> dict[str, str]:
        output = self.path.parent / "github_output"
        output.write_text("")
        env = {
            "GITHUB_SHA": sha,
            "GITHUB_EVENT_NAME": event,
            "GITHUB_OUTPUT": str(output),
            "OVERLAY": overlay,
            "IMAGE_INPUTS": release()["env"]["IMAGE_INPUTS"],
        }
        result = run_bash(step_script("plan", "whether this commit changes the images"), self.path, env)
        assert result.returncode == 0, result.stderr + result.stdout
        return dict(line.split("=", 1) for line in output.read_text().splitlines())


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    (tmp_path / "repo").mkdir()
    return Repo(tmp_path / "repo")


def test_the_plan_releases_a_commit_that_changes_the_images(repo: Repo) -> None:
    first = repo.commit("operator/webstack_operator/controller/handlers.py", "v2\n")
    plan = repo.plan(first)
    assert plan["release"] == "true"  # the overlay runs 0.1.0, no commit of ours
    assert plan["tag"] == f"sha-{first[:12]}"
    repo.deploy(first)
    assert repo.plan(repo.commit("webapp/users_api/app.py", "v2\n"))["release"] == "true"
    assert repo.plan(repo.commit("Dockerfile.webapp", "FROM x\n"))["release"] == "true"


def test_the_plan_skips_commits_that_leave_the_images_as_deployed(repo: Repo) -> None:
    """The bump commit itself, and docs: nothing to build. Nor is a change skipped because a later docs
    commit is the one that gets released: the plan compares with what the overlay runs, not the parent."""
    code = repo.commit("operator/webstack_operator/controller/handlers.py", "v2\n")
    bump = repo.deploy(code)
    assert repo.plan(bump)["release"] == "false"
    docs = repo.commit("docs/index.md", "v2\n")
    assert repo.plan(docs)["release"] == "false"
    assert repo.plan(docs, event="workflow_dispatch")["release"] == "true"  # asked for by hand
    repo.commit("operator/webstack_operator/controller/handlers.py", "v3\n")  # never released on its own...
    assert repo.plan(repo.commit("docs/index.md", "v3\n"))["release"] == "true"  # ...so the next one is


def test_the_plan_never_moves_an_overlay_back(repo: Repo) -> None:
    old = repo.commit("operator/webstack_operator/controller/handlers.py", "v2\n")
    new = repo.commit("operator/webstack_operator/controller/handlers.py", "v3\n")
    repo.deploy(new)
    assert repo.plan(old)["release"] == "false"
    assert repo.plan(old, event="workflow_dispatch")["release"] == "false"


def test_a_release_hold_stops_every_release_to_its_overlay(repo: Repo) -> None:
    """A rollback reverts the bump and adds release-hold: main's newer code must not come straight back."""
    first = repo.commit("operator/webstack_operator/controller/handlers.py", "v2\n")
    repo.deploy(first)
    second = repo.commit("operator/webstack_operator/controller/handlers.py", "v3\n")
    repo.deploy(second)
    repo.commit("deploy/overlays/prod/release-hold", "sha-second is broken: rolled back\n")
    repo.deploy(first)  # the revert of the second bump
    code = repo.commit("operator/webstack_operator/controller/handlers.py", "v4\n")
    assert repo.plan(code)["release"] == "false"
    assert repo.plan(code, event="workflow_dispatch")["release"] == "false"
    assert repo.plan(code, overlay="dev")["release"] == "true"  # the hold is per overlay
    repo.git("rm", "-q", "deploy/overlays/prod/release-hold")
    assert (
        repo.plan(repo.commit("operator/webstack_operator/controller/handlers.py", "v5\n"))["release"]
        == "true"
    )


def test_the_plan_refuses_an_unknown_overlay(repo: Repo) -> None:
    env = {"OVERLAY": "staging", "GITHUB_SHA": "0" * 40, "GITHUB_OUTPUT": str(repo.path.parent / "out")}
    env |= {"IMAGE_INPUTS": "operator", "GITHUB_EVENT_NAME": "push"}
    result = run_bash(step_script("plan", "whether this commit changes the images"), repo.path, env)
    assert result.returncode == 1
    assert "overlay must be prod or dev, not 'staging'" in result.stdout


@pytest.mark.parametrize("overlay", ["prod", "dev"])
def test_the_bump_pins_every_overlay_to_the_signed_digests(tmp_path: Path, overlay: str) -> None:
    """The bump's own steps, run on a copy of deploy/ with the digests the images job handed on."""
    shutil.copytree(ROOT / "deploy" / "overlays", tmp_path / "deploy" / "overlays")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "digests").mkdir()
    for image, digest in DIGESTS.items():
        (tmp_path / "digests" / image).write_text(digest + "\n")
    env = {"TAG": "sha-0123456789ab", "OVERLAY": overlay}
    bump_steps = job_steps(release()["jobs"]["bump"])
    pins = [s for s in bump_steps if "scripts/bump_image_tag.py" in s.get("run", "")]
    assert [s.get("if") for s in pins] == [None, "inputs.overlay == 'prod'"]
    for step in pins:
        if step.get("if") and overlay != "prod":
            continue
        result = run_bash(step["run"], tmp_path, env)
        assert result.returncode == 0, result.stderr
    bumped = [f"{overlay}/kustomization.yaml", f"{overlay}/stack/kustomization.yaml"]
    if overlay == "prod":
        bumped.append("namespaced/kustomization.yaml")  # the other way to install the same operator
    for relative in bumped:
        [image] = yaml.safe_load((tmp_path / "deploy" / "overlays" / relative).read_text())["images"]
        assert (image["newTag"], image["digest"]) == ("sha-0123456789ab", DIGESTS[image["name"]]), relative
    untouched = {
        "dev": ["prod/kustomization.yaml", "namespaced/kustomization.yaml"],
        "prod": ["dev/kustomization.yaml"],
    }
    for relative in untouched[overlay]:
        path = f"deploy/overlays/{relative}"
        assert (tmp_path / path).read_text() == (ROOT / path).read_text(), relative


def test_the_bump_fails_without_a_digest(tmp_path: Path) -> None:
    """A missing hand-off is an error, never a tag-only pin."""
    shutil.copytree(ROOT / "deploy" / "overlays", tmp_path / "deploy" / "overlays")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "digests").mkdir()
    result = run_bash(
        step_script("bump", "Pin the images by digest"), tmp_path, {"TAG": "sha-1", "OVERLAY": "prod"}
    )
    assert result.returncode != 0
    assert "not a valid digest" in result.stderr


def test_the_bump_commit_skips_ci_and_cannot_start_a_release() -> None:
    commands = step_script("bump", "Commit and push")
    commit = re.search(r'git commit -m "([^"]+)"', commands)
    assert commit is not None and "[skip ci]" in commit.group(1)
    assert 'git config user.name "github-actions[bot]"' in commands  # the author ci.yaml's `if` skips
    assert "git add deploy/overlays\n" in commands  # the bump commits nothing outside deploy/
    condition = load("ci.yaml")["jobs"]["release"]["if"]
    assert "github.actor != 'github-actions[bot]'" in condition
    assert "!contains(github.event.head_commit.message, '[skip ci]')" in condition
    inputs = release()["env"]["IMAGE_INPUTS"].split()
    assert not any(i == "deploy" or i.startswith("deploy/") for i in inputs)
    assert {"contract", "operator", "webapp", "Dockerfile.operator", "Dockerfile.webapp"} <= set(inputs)


# --- Hygiene -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ci.yaml", "release.yaml"])
def test_every_action_is_pinned_by_commit(name: str) -> None:
    """A tag can be moved by whoever controls the action's repository; a commit cannot."""
    lines = [line.strip() for line in (WORKFLOWS / name).read_text().splitlines()]
    refs = [line.split("uses:", 1)[1].strip() for line in lines if re.match(r"(- )?uses:", line)]
    assert refs
    for ref in refs:
        if ref.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", ref), f"{name}: {ref}"


@pytest.mark.parametrize("name", ["ci.yaml", "release.yaml"])
def test_every_job_has_a_timeout(name: str) -> None:
    for job_name, job in load(name)["jobs"].items():
        if "uses" in job:
            continue  # a reusable workflow's jobs carry their own
        assert job.get("timeout-minutes"), f"{name}: job {job_name} has no timeout"


def test_dependabot_keeps_the_pins_fresh() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    updates = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert updates == {
        ("docker", "/"),
        ("github-actions", "/"),
        ("pip", "/"),
        ("pip", "/contract"),
        ("pip", "/operator"),
        ("pip", "/webapp"),
        ("pip", "/tools/python"),
        ("npm", "/bench/peers/express-users"),
    }
    assert (ROOT / "bench/peers/express-users/package-lock.json").is_file()
