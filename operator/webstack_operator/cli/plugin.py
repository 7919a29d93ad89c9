"""`kubectl webstack plan | status | report | drill` (executable `kubectl-webstack`; `webstack-operator` too).

Credentials and namespace as kubectl finds them (`--kubeconfig`, `--context`, `-n`; the context's
namespace, else `default`), through the operator's own login and client. Exit codes of `plan`: 0 no
changes, 2 changes, 1 error (as `terraform plan -detailed-exitcode`; a usage error is 1 too, not
argparse's 2); of `status`: 0, or 1 on an error; `status --watch` ends with 0 once the stack is Ready,
130 on Ctrl-C; of `report`: 0 once the ZIP is written (what the credentials could not read is said in
it), 1 when the WebStack does not exist or the ZIP cannot be written; of `drill`: cli/drill.py says.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from webstack_operator.kube.jsondata import JSON

PROG = "kubectl webstack"
DEFAULT_APPLY_MANAGER = "kubectl"
WATCH_INTERVAL = 2.0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="path to the kubeconfig (default: KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", help="the kubeconfig context to use")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")


def add_commands(commands: Any) -> None:
    """Registers `plan`, `status`, `report` and `drill` on a subparsers object (both executables share
    them)."""
    from webstack_operator.cli.drill import add_drill

    plan = commands.add_parser("plan", help="what applying a WebStack file would change in the cluster")
    plan.add_argument("-f", "--filename", required=True, help="WebStack YAML file, or - for stdin")
    plan.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    plan.add_argument(
        "--field-manager",
        default=DEFAULT_APPLY_MANAGER,
        help="the manager you apply the WebStack with (default: kubectl's, `kubectl apply --server-side`; "
        "Argo CD's is argocd-controller): fields others set are kept as your apply would keep them",
    )
    _common(plan)
    status = commands.add_parser("status", help="a stack's blocker, phase, conditions and children")
    status.add_argument("name", help="the WebStack's name")
    status.add_argument("-w", "--watch", action="store_true", help="re-print on change until Ready")
    status.add_argument("--interval", type=float, default=WATCH_INTERVAL, help=argparse.SUPPRESS)
    _common(status)
    _add_report(commands)
    add_drill(commands, _common)


REPORT_HELP = """\
Writes a support bundle (ZIP) to send a maintainer: the WebStack, its children, its Secrets reduced to
their key names, the Events about them, the plan against the live state, the operator pods' recent logs
and /metrics, and versions (the plugin's, the operator's images, Kubernetes', the CRD's). Every value of
the stack's Secrets is replaced by <redacted> wherever it appears; Secret values are never written.
What your credentials may not read (pods/log, pods/proxy in the operator's namespace, Events...) is
recorded in the bundle's refusals.txt instead of failing the report. README.txt in the ZIP says it all.
"""


def _add_report(commands: Any) -> None:
    from webstack_operator.cli.report.operator_side import LOG_LINES, OPERATOR_NAMESPACE, OPERATOR_SELECTOR

    report = commands.add_parser(
        "report",
        help="a redacted support bundle (ZIP) of a stack and its operator",
        description=REPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("name", help="the WebStack's name")
    report.add_argument("-o", "--output", help="the ZIP to write (default: webstack-report-NAME.zip)")
    report.add_argument(
        "--operator-namespace",
        default=OPERATOR_NAMESPACE,
        help=f"where the operator's pods run (default: {OPERATOR_NAMESPACE})",
    )
    report.add_argument(
        "--operator-selector",
        default=OPERATOR_SELECTOR,
        help=f"the label selector of the operator's pods (default: {OPERATOR_SELECTOR})",
    )
    report.add_argument(
        "--log-lines", type=int, default=LOG_LINES, help=f"log lines per operator container ({LOG_LINES})"
    )
    _common(report)


def run(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    color: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`color`: the caller decides (main.py: stdout is a terminal and NO_COLOR is unset); `environ`: the
    operator's settings (images...) for `plan` to render with, as `render` does (main.py reads it)."""
    from webstack_operator.kube.connection import LoginError

    try:
        client, context_namespace = _connect(args.kubeconfig, args.context)
    except LoginError as e:
        print(f"error: cannot connect to Kubernetes: {e}", file=err)
        return 1
    namespace = args.namespace or context_namespace or "default"
    if args.command == "plan":
        where = (args.namespace, namespace)
        output = "color" if args.output == "text" and color else args.output
        rendering = (args.filename, where, args.field_manager, environ)
        return asyncio.run(_plan(client, rendering, output, out, err))
    if args.command == "report":
        return asyncio.run(_report(client, (namespace, args.name), args, environ, err))
    if args.command == "drill":
        from webstack_operator.cli.drill import drill

        return asyncio.run(drill(client, namespace, args, out, err))
    try:
        watch = (args.watch, args.interval)
        return asyncio.run(_status(client, namespace, args.name, watch, color, out, err))
    except KeyboardInterrupt:
        return 130


def _connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str | None]:
    from webstack_operator.kube.client import KubeClient
    from webstack_operator.kube.connection import login_for_cli
    from webstack_operator.objects.stamps import FIELD_MANAGER

    def login() -> Any:
        return login_for_cli(kubeconfig, context)

    info = login()
    # `plan` dry-runs the operator's own applies, so under the operator's field manager; its requests say
    # they are the plugin's.
    client = KubeClient(info, field_manager=FIELD_MANAGER, user_agent="kubectl-webstack", login=login)
    return client, info.default_namespace


async def _plan(
    client: Any,
    rendering: tuple[str, tuple[str | None, str], str, Mapping[str, str]],
    output: str,
    out: TextIO,
    err: TextIO,
) -> int:
    """`rendering`: the file, where (the -n flag, None when not given, and the namespace to use), the field
    manager, and the environment the settings come from."""
    path, where, manager, environ = rendering
    from webstack_operator.api.files import RenderError, load_documents
    from webstack_operator.cli.plan.actions import PlanResult, exit_code, plan_json
    from webstack_operator.cli.plan.dry_run import plan_stacks
    from webstack_operator.cli.plan.view import plan_text
    from webstack_operator.config.run_options import load_settings
    from webstack_operator.kube.client import ApiError

    try:
        flag_namespace, namespace = where
        documents = load_documents(path)
        for doc in documents:
            named = (doc.get("metadata") or {}).get("namespace")
            if flag_namespace and named and named != flag_namespace:
                raise RenderError(f"{path}: the file's namespace {named} does not match -n {flag_namespace}")
            if not isinstance((doc.get("metadata") or {}).get("name"), str):
                raise RenderError(f"{path}: metadata.name: required")
        result = await plan_stacks(client, documents, load_settings(environ), namespace, manager)
    except RenderError as e:
        result = PlanResult(errors=(str(e),))
    except ApiError as e:
        result = PlanResult(errors=(f"the API server: {e}",))
    finally:
        await client.close()
    if output == "json":
        out.write(json.dumps(plan_json(result), indent=2, default=str) + "\n")
    else:
        out.write(plan_text(result, color=output == "color"))
    for error in result.errors:
        print(f"error: {error}", file=err)
    return exit_code(result)


async def _report(
    client: Any, stack: tuple[str, str], args: argparse.Namespace, environ: Mapping[str, str], err: TextIO
) -> int:
    from pathlib import Path

    from webstack_operator.cli.report.make import StackNotFound, make_report, write_atomically
    from webstack_operator.cli.report.operator_side import OperatorPlace

    place = OperatorPlace(args.operator_namespace, args.operator_selector, args.log_lines)
    try:
        bundle = await make_report(client, stack, place, environ)
    except StackNotFound as e:
        print(f"error: {e}", file=err)
        return 1
    finally:
        await client.close()
    path = Path(args.output or f"webstack-report-{stack[1]}.zip")
    try:
        size = write_atomically(bundle, path)
    except OSError as e:
        print(f"error: cannot write {path}: {e}", file=err)
        return 1
    refused = f"; {len(bundle.refusals)} refused, see refusals.txt" if bundle.refusals else ""
    print(f"wrote {path} ({size} bytes, {len(bundle.files)} files{refused})", file=err)
    return 0


async def _status(
    client: Any, namespace: str, name: str, watch: tuple[bool, float], color: bool, out: TextIO, err: TextIO
) -> int:
    """`watch`: whether to follow the stack until Ready, and how often to look."""
    from webstack_operator.cli.stack_read import read_stack
    from webstack_operator.cli.status.view import is_ready, status_text
    from webstack_operator.kube.client import ApiError

    last = None
    try:
        try:
            await client.discover()
        except ApiError as e:
            print(f"error: {e}", file=err)
            return 1
        while True:
            try:
                ws, children = await read_stack(client, namespace, name)
            except ApiError as e:
                print(f"error: {e.message if e.status else e}", file=err)
                return 1
            now = datetime.datetime.now(datetime.UTC)
            signature = _signature(ws, children)
            if signature != last:
                if last is not None:
                    out.write("\n")
                out.write(status_text(ws, children, now, color))
                out.flush()
                last = signature
            if not watch[0] or is_ready(ws):
                return 0
            await asyncio.sleep(watch[1])
    finally:
        await client.close()


def _signature(ws: JSON, children: list[JSON]) -> object:
    """What a re-print depends on (ages alone never make one)."""
    return (
        json.dumps(ws.get("status"), sort_keys=True),
        sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("resourceVersion")) for o in children),
    )
