"""Restore drills on real pods (issue 26): the demo stack's database dumped by the operator's own CronJob
into a local-path claim, restored by the in-cluster operator's drill into a scratch Postgres in a scratch
namespace, checked, measured and cleaned up; then a corrupted dump fails the drill, and status, the
`BackupHealthy` condition and the metric the WebStackBackupDrillFailing alert reads all say so.

Users are written, a dump is taken (a Job from the dump CronJob, as `kubectl create job --from` takes one
now), more users are written, and the drill (`kubectl webstack drill`) must restore exactly the rows the
live table held at the dump: its count and the md5 of its sorted rows, read from the live database before
the second set. RPO is the dump's age at the drill's end, RTO the drill's start to the checks answered;
both are printed as figures (docs/benchmarks.md), never asserted as times.

The stack is the package's demo stack (conftest.py): the test adds `backup.dump` and `backup.drill` to it
and takes them away again at the end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.incluster import InCluster
from tests.support.operator import condition, get_json

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localdemo.lab_stack import node_dns_policy
from localservices.server import console_script
from webstack_operator.builders.drill import COMPONENT as DRILL
from webstack_operator.builders.drill import scratch_namespace_name
from webstack_operator.builders.dump import COMPONENT as DUMP
from webstack_operator.objects import labels
from webstack_operator.telemetry import metric_names

pytestmark = pytest.mark.cluster

CLAIM = "drill-dumps"
DRILL_TIMEOUT = 600.0


@dataclass
class Drilled:
    """The demo stack with dumps and drills on."""

    cluster: KubeTarget
    installed: InCluster
    namespace: str
    name: str
    credentials: dict[str, str]

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check)

    def psql(self, sql: str) -> str:
        """A query on the live database, as its role over the pod's unix socket."""
        pod = f"{self.name}-postgres-0"
        user, database = self.credentials["username"], self.credentials["database"]
        psql = ["psql", "-XAtq", "-U", user, "-d", database, "-c", sql]
        return self.kubectl("exec", pod, "-c", "postgres", "--", *psql).stdout

    def users(self) -> tuple[int, str]:
        """The live users table: its row count and the md5 of its sorted `COPY` rows, as the drill's."""
        rows = sorted(self.psql("COPY users TO STDOUT").splitlines(), key=lambda r: r.encode())
        return len(rows), hashlib.md5("".join(f"{r}\n" for r in rows).encode()).hexdigest()

    def add_users(self, count: int, tag: str) -> None:
        service = get_json(self.cluster, "service", f"{self.name}-frontend", "-n", self.namespace)["spec"]
        url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}"
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
            for i in range(count):
                email = f"{tag}-{i}-{uuid.uuid4().hex[:6]}@example.com"
                created = client.post("/api/users", json={"email": email, "name": f"Drill {tag} {i}"})
                assert created.status_code == 201, created.text

    def dump_now(self, job: str) -> None:
        self.kubectl("create", "job", job, f"--from=cronjob/{self.name}-dump")
        finished = eventually(
            lambda: _job_end(get_json(self.cluster, "job", job, "-n", self.namespace)),
            until=lambda end: end is not None,
            timeout=240,
            interval=2,
            what=f"dump Job {job} Complete or Failed (its retries included)",
        )
        logs = self.kubectl("logs", f"job/{job}").stdout
        print(f"$ kubectl logs job/{job}\n{logs}")
        assert finished == "Complete", logs

    def drill(self) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """`kubectl webstack drill`, as a person runs it; its output and the record in status."""
        where = ["-n", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig_path)]
        command = [
            console_script("kubectl-webstack"),
            "drill",
            self.name,
            *where,
            "--timeout",
            str(DRILL_TIMEOUT),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=DRILL_TIMEOUT + 60,
                                env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
        print(f"$ kubectl webstack drill {self.name} -n {self.namespace}\n{result.stderr}{result.stdout}"
              f"(exit {result.returncode})")  # fmt: skip
        return result, self.webstack()["status"]["backup"]["lastDrill"]

    def webstack(self) -> dict[str, Any]:
        return get_json(self.cluster, "webstack", self.name, "-n", self.namespace)

    def scratch_gone(self) -> None:
        scratch = scratch_namespace_name(self.namespace, self.name)
        eventually(
            lambda: self.cluster.kubectl("get", "namespace", scratch, check=False).returncode,
            until=lambda rc: rc != 0,
            timeout=240,
            interval=2,
            what=f"the scratch namespace {scratch} deleted",
        )

    def newest_dump(self) -> Path:
        """The newest dump's file, through the claim's local-path directory on the node."""
        claim = get_json(self.cluster, "pvc", CLAIM, "-n", self.namespace)
        volume = get_json(self.cluster, "pv", claim["spec"]["volumeName"])
        source = volume["spec"].get("hostPath") or volume["spec"]["local"]
        directory = Path(source["path"])
        newest = (directory / "dumps.manifest").read_text().splitlines()[0].split("\t")[1]
        return directory / newest


def _job_end(job: dict[str, Any]) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return str(c["type"])
    return None


def _spec_patch(backup: dict[str, Any]) -> str:
    return json.dumps({"spec": {"backup": backup}})


@pytest.fixture(scope="module")
def drilled(installed: InCluster, demo: dict[str, Any]) -> Iterator[Drilled]:
    cluster = installed.cluster
    ns, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": CLAIM, "namespace": ns},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "local-path",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    cluster.apply(claim)
    # The lab's DNS is a host process: the dump and drill pods resolve names only with its allowance.
    selector = {
        "matchLabels": {labels.PART_OF: labels.PART_OF_VALUE},
        "matchExpressions": [{"key": labels.COMPONENT, "operator": "In", "values": [DUMP, DRILL]}],
    }
    dns = node_dns_policy(ns, selector)
    dns["metadata"]["name"] = "lab-node-dns-backup"
    cluster.apply(dns)
    secret = get_json(cluster, "secret", f"{name}-postgres", "-n", ns)["data"]
    credentials = {k: base64.b64decode(secret[k]).decode() for k in ("username", "database")}
    on = {"dump": {"claimName": CLAIM, "keep": 3}, "drill": {"enabled": True, "period": "168h"}}
    cluster.kubectl("patch", "webstack", name, "-n", ns, "--type=merge", "-p", _spec_patch(on))
    eventually(
        lambda: cluster.kubectl("get", "cronjob", f"{name}-dump", "-n", ns, check=False).returncode,
        until=lambda rc: rc == 0,
        timeout=60,
        what="the dump CronJob rendered",
    )
    try:
        yield Drilled(cluster, installed, ns, name, credentials)
    finally:
        off = {"dump": None, "drill": None}
        cluster.kubectl("patch", "webstack", name, "-n", ns, "--type=merge", "-p", _spec_patch(off))
        cluster.kubectl("delete", "pvc", CLAIM, "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "networkpolicy", "lab-node-dns-backup", "-n", ns, check=False)


def test_a_drill_restores_exactly_the_data_of_the_dump_and_measures_rpo_and_rto(drilled: Drilled) -> None:
    drilled.add_users(3, "first")
    rows_at_dump, digest_at_dump = drilled.users()
    drilled.dump_now("dump-first")
    dumped_before = time.time()
    drilled.add_users(2, "second")
    rows_now, _ = drilled.users()
    assert rows_now == rows_at_dump + 2

    result, record = drilled.drill()

    assert result.returncode == 0, result.stderr
    assert (record["result"], record["reason"]) == ("Succeeded", "Restored"), record
    [users] = [t for t in record["tables"] if t["name"] == "users"]
    # Exactly the table as the dump saw it: the first set in, the second set out.
    assert (users["rows"], users["digest"]) == (rows_at_dump, digest_at_dump), record
    assert record["schemaVersion"] == drilled.psql("SELECT max(version) FROM schema_migrations").strip()
    dump_time = _epoch(record["dumpTime"])
    assert dump_time <= dumped_before
    assert record["rpoSeconds"] == _epoch(record["time"]) - dump_time
    assert record["rtoSeconds"] == _epoch(record["time"]) - _epoch(record["started"]) > 0
    healthy = condition(drilled.webstack(), "BackupHealthy")
    assert healthy is not None and healthy.get("reason") != "DrillFailed", healthy
    leader = drilled.installed.leader()
    stack = {metric_names.LABEL_STACK_NAMESPACE: drilled.namespace, metric_names.LABEL_STACK: drilled.name}
    assert leader.metric(metric_names.DRILL_SUCCESS, **stack) == 1
    assert leader.metric(metric_names.DRILL_RTO_SECONDS, **stack) == record["rtoSeconds"]
    drilled.scratch_gone()
    size = drilled.newest_dump().stat().st_size
    print(
        f"[figures] restore drill on real pods: RTO {record['rtoSeconds']:g}s, "
        f"RPO {record['rpoSeconds']:g}s, {rows_at_dump} users, dump {size} bytes"
    )


def test_a_corrupted_dump_fails_the_drill_and_status_and_the_alerts_metric_say_so(drilled: Drilled) -> None:
    drilled.dump_now("dump-to-corrupt")
    newest = drilled.newest_dump()
    newest.write_bytes(b"PGDMP" + os.urandom(256))  # the archive's magic, then garbage

    result, record = drilled.drill()

    assert result.returncode == 1, result.stdout
    assert (record["result"], record["reason"]) == ("Failed", "CorruptDump"), record
    assert newest.name in record["message"] and record["dump"] == newest.name
    assert not {"rpoSeconds", "rtoSeconds", "tables"} & record.keys(), record  # nothing left of the last one
    healthy = condition(drilled.webstack(), "BackupHealthy")
    assert healthy is not None and (healthy["status"], healthy["reason"]) == ("False", "DrillFailed"), healthy
    assert "CorruptDump" in healthy["message"]
    stack = {metric_names.LABEL_STACK_NAMESPACE: drilled.namespace, metric_names.LABEL_STACK: drilled.name}
    # What WebStackBackupDrillFailing's expression reads (builders/operator_alerts.py): success == 0.
    assert drilled.installed.leader().metric(metric_names.DRILL_SUCCESS, **stack) == 0
    drilled.scratch_gone()


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
