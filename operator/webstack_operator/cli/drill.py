"""`kubectl webstack drill NAME`: ask the operator for a restore drill now, and wait for its record.

The request is the annotation the operator acts on (`webstack.dev/drill`, reconcile/drill_action.py), set
to the request's time: a new value each time, so each run is one new drill. The operator starts the drill
and removes the annotation; its record appears in `status.backup.lastDrill` with the request as its `id`.
Exit codes: 0 the drill passed (or `--no-wait`), 1 it failed or could not be asked for, 2 no record within
`--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time
from typing import Any, TextIO

from webstack_operator.kube.jsondata import JSON

DEFAULT_TIMEOUT = 1800.0
POLL_SECONDS = 2.0


def add_drill(commands: Any, common: Any) -> None:
    drill = commands.add_parser("drill", help="restore the newest dump into a scratch Postgres and check it")
    drill.add_argument("name", help="the WebStack's name")
    drill.add_argument(
        "--no-wait", action="store_true", help="ask, and return without waiting for the record"
    )
    drill.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait (1800)")
    common(drill)


def record_text(record: JSON) -> str:
    """The drill's record, for a person: one line of verdict, then what it restored and measured."""
    lines = [f"drill {record.get('id')}: {record.get('result')} ({record.get('reason')})"]
    if record.get("message"):
        lines.append(f"  {record['message']}")
    if record.get("dump"):
        lines.append(f"  dump:   {record['dump']} (taken {record.get('dumpTime', 'unknown')})")
    if record.get("rpoSeconds") is not None:
        lines.append(f"  RPO:    {record['rpoSeconds']:g}s (age of the restored data)")
    if record.get("rtoSeconds") is not None:
        lines.append(
            f"  RTO:    {record['rtoSeconds']:g}s (start to a restored database answering the checks)"
        )
    for table in record.get("tables") or []:
        lines.append(f"  table {table['name']}: {table['rows']} rows, md5 {table.get('digest', '')}")
    return "\n".join(lines) + "\n"


async def drill(client: Any, namespace: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from webstack_operator.api.group_version import API_VERSION, KIND
    from webstack_operator.kube.apply import get_object, merge_patch
    from webstack_operator.kube.client import ApiError
    from webstack_operator.reconcile.drill_action import DRILL_ANNOTATION

    try:
        await client.discover()
        resource = client.resource(API_VERSION, KIND)
        if resource is None:
            print("error: the WebStack CRD is not installed", file=err)
            return 1
        request = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"metadata": {"annotations": {DRILL_ANNOTATION: request}}}
        await merge_patch(client, resource, namespace, args.name, body, manager="kubectl-webstack")
        print(f"asked for restore drill {request} of {namespace}/{args.name}", file=err)
        if args.no_wait:
            return 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            ws = await get_object(client, resource, namespace, args.name)
            record = (((ws or {}).get("status") or {}).get("backup") or {}).get("lastDrill") or {}
            if record.get("id") == request:
                out.write(record_text(record))
                return 0 if record.get("result") == "Succeeded" else 1
            await asyncio.sleep(POLL_SECONDS)
        print(f"error: no record of drill {request} within {args.timeout:g}s", file=err)
        return 2
    except ApiError as e:
        print(f"error: {e.message if e.status else e}", file=err)
        return 1
    finally:
        await client.close()
