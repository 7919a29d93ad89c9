"""The `kubectl-webstack` command line: exit codes that never mistake an error for "changes", the
kubeconfig context chosen like kubectl's, and the WebStack file checked before any request."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
import yaml

from webstack_operator.cli import plugin
from webstack_operator.cli.main import kubectl_webstack, main
from webstack_operator.kube.connection import login_for_cli


def test_usage_errors_exit_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert kubectl_webstack(["plan"]) == 1  # -f missing
    assert main(["plan"]) == 1
    assert kubectl_webstack(["status"]) == 1  # NAME missing
    assert "the following arguments are required" in capsys.readouterr().err
    assert main(["nonsense"]) == 2  # other commands keep argparse's own code


def kubeconfig(tmp_path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "a", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}},
            {"name": "b", "cluster": {"server": "https://127.0.0.1:2", "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "first", "context": {"cluster": "a", "user": "u", "namespace": "team-a"}},
            {"name": "second", "context": {"cluster": "b", "user": "u"}},
        ],
        "current-context": "first",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def test_the_context_is_chosen_as_kubectl_does(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path))
    first = login_for_cli(path)
    assert (first.server, first.default_namespace) == ("https://127.0.0.1:1", "team-a")
    second = login_for_cli(path, "second")
    assert (second.server, second.default_namespace) == ("https://127.0.0.1:2", None)


def test_a_file_namespace_that_contradicts_n_is_an_error_before_any_request(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "webstack.dev/v1alpha1",
                "kind": "WebStack",
                "metadata": {"name": "shop", "namespace": "team-a"},
                "spec": {"backend": {"image": "x:1"}},
            }
        )
    )
    args = argparse.Namespace(
        command="plan",
        filename=str(stack),
        namespace="team-b",
        kubeconfig=str(kubeconfig(tmp_path)),  # a server that never answers: no request may be needed
        context=None,
        output="json",
        field_manager="kubectl",
    )
    out, err = io.StringIO(), io.StringIO()
    assert plugin.run(args, environ={}, out=out, err=err) == 1
    shown = json.loads(out.getvalue())
    assert shown["exitCode"] == 1 and shown["stacks"] == []
    assert "does not match -n team-b" in shown["errors"][0] and "does not match" in err.getvalue()


def test_report_needs_a_name_and_its_help_says_what_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    assert kubectl_webstack(["report"]) == 1
    assert "the following arguments are required: name" in capsys.readouterr().err
    assert kubectl_webstack(["report", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "<redacted>" in shown and "refusals.txt" in shown and "--operator-namespace" in shown
