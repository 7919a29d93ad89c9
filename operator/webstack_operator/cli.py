"""`webstack-operator`: run the operator, or print the CRD, its reference, the dashboard, or a stack.

`render` goes through the very code path the operator applies (parse_spec, then desired_objects), so its
output is what a GitOps reviewer or a CI job can trust. Offline, the generated database password is a
fixed placeholder (the operator generates a real one in the cluster and never overwrites it).
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from webstack_operator import config
from webstack_operator.builders import StackContext, desired_objects
from webstack_operator.builders.dashboard import build_dashboard, dashboard_json
from webstack_operator.crd import crd_yaml
from webstack_operator.docs import crd_reference_markdown
from webstack_operator.settings import OperatorSettings
from webstack_operator.spec import API_VERSION, KIND, SpecError, parse_spec, validate_name
from webstack_operator.yamlio import dump_yaml_stream

RENDER_PLACEHOLDER_PASSWORD = "rendered-offline-placeholder-password"
RENDER_PLACEHOLDER_CACHE_PASSWORD = "rendered-offline-placeholder-cache-password"
RENDER_NOTE = (
    "# Rendered offline by `webstack-operator render`: the same objects, in the same order, as the operator\n"
    "# applies. The generated Secrets (database, cache) carry placeholder passwords here; in the cluster\n"
    "# the operator generates random ones, once, and never overwrites them.\n"
)


class RenderError(Exception):
    """A WebStack file that cannot be rendered, with where and why."""


def _load_documents(path: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RenderError(f"{path}: cannot read: {error.strerror}") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise RenderError(f"{path}: not valid YAML: {error}") from None
    if not documents:
        raise RenderError(f"{path}: no WebStack in the file")
    for index, doc in enumerate(documents):
        where = f"{path} (document {index + 1})"
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: expected a mapping, got {type(doc).__name__}")
        if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
            raise RenderError(
                f"{where}: apiVersion/kind: expected {API_VERSION} {KIND}, "
                f"got {doc.get('apiVersion')!r} {doc.get('kind')!r}"
            )
    return documents


def load_settings() -> OperatorSettings:
    """The operator's own settings (images, frontend assets), so `render` prints what `run` applies."""
    return config.load_settings(os.environ)


def render_file(path: str, *, namespace: str | None = None) -> list[dict[str, Any]]:
    """Every object of every WebStack in a file (`-` for standard input)."""
    settings = load_settings()
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(_load_documents(path)):
        metadata = doc.get("metadata") or {}
        name = metadata.get("name")
        where = f"{path} (document {index + 1})"
        if not isinstance(name, str):
            raise RenderError(f"{where}: metadata.name: required")
        try:
            validate_name(name)
            spec = parse_spec(doc)
        except SpecError as error:
            raise RenderError(f"{where}: WebStack {name!r} is invalid:\n{error}") from None
        ns = namespace or metadata.get("namespace") or "default"
        ctx = StackContext(
            spec=spec,
            name=name,
            namespace=ns,
            settings=settings,
            generated_password=RENDER_PLACEHOLDER_PASSWORD,
            generated_cache_password=RENDER_PLACEHOLDER_CACHE_PASSWORD,
        )
        objects.extend(desired_objects(ctx))
    return objects


def _write_render(objects: list[dict[str, Any]], output: str, out: TextIO) -> None:
    if output == "json":
        out.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")
    else:
        out.write(RENDER_NOTE + dump_yaml_stream(objects))


def _run(args: argparse.Namespace) -> int:
    # Imported lazily: kopf, its handlers and the API client are needed only to run the operator.
    from webstack_operator.connection import LoginError
    from webstack_operator.runtime import run_operator

    try:
        settings = config.load_config(
            os.environ,
            namespaces=args.namespace,
            liveness_port=args.liveness_port,
            metrics_port=args.metrics_port,
            verbose=args.verbose,
        )
    except config.ConfigError as error:
        print(f"webstack-operator run: {error}", file=sys.stderr)
        return 2
    try:
        run_operator(settings)
    except LoginError as error:
        print(f"webstack-operator run: cannot connect to Kubernetes: {error}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webstack-operator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("crd", help="print the WebStack CustomResourceDefinition (YAML)")
    commands.add_parser("docs", help="print the API reference (Markdown) generated from the models")
    commands.add_parser("dashboard", help="print the canonical Grafana dashboard JSON")
    render = commands.add_parser("render", help="print the objects of a WebStack file, offline")
    render.add_argument("-f", "--filename", required=True, help="WebStack YAML file, or - for stdin")
    render.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format")
    render.add_argument("-n", "--namespace", help="namespace (default: metadata.namespace, else default)")
    run = commands.add_parser("run", help="run the operator")
    run.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="serve only this namespace (repeatable; an exact name): namespaced Roles suffice, "
        "see deploy/overlays/namespaced",
    )
    run.add_argument("--liveness-port", type=int, default=8080, help="port of /healthz (0: none)")
    run.add_argument("--metrics-port", type=int, default=None, help="port of /metrics (default 8081)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `webstack-operator` console script."""
    args = _parser().parse_args(argv)
    if args.command == "crd":
        sys.stdout.write(crd_yaml())
    elif args.command == "docs":
        sys.stdout.write(crd_reference_markdown())
    elif args.command == "dashboard":
        sys.stdout.write(dashboard_json(build_dashboard()))
    elif args.command == "render":
        try:
            objects = render_file(args.filename, namespace=args.namespace)
        except RenderError as error:
            print(f"webstack-operator render: {error}", file=sys.stderr)
            return 1
        _write_render(objects, args.output, sys.stdout)
    elif args.command == "run":
        return _run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
