"""A support bundle's layout: its files, the manifest and README.txt that say what it holds, the ZIP.

Pure: the collector (collect.py) adds what it read or what it was refused; `zip_bytes` passes every file
through the redactor on the way out, so no file reaches the ZIP unredacted, whoever added it.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

from webstack_operator.cli.report.redact import MIN_LENGTH, REDACTED, Redactor
from webstack_operator.kube.jsondata import JSON
from webstack_operator.kube.yamlio import dump_yaml

FORMAT_VERSION = 1
README = "README.txt"
MANIFEST = "manifest.json"
# What each top-level entry holds, in the README's order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("webstack.yaml", "the WebStack as the API server holds it (spec and status)"),
    ("children/", "every object the operator owns for the stack, one YAML file per object"),
    ("secrets/", "the stack's Secrets: name, type, labels, owners and key names only, never a value"),
    ("pods/", "the stack's pods (by its labels): their spec and status, restarts included"),
    ("events.yaml", "the namespace's Events about the stack and its children"),
    ("plan.txt", "`kubectl webstack plan` of the live WebStack: what the operator would change now"),
    ("plan.json", "the same plan as JSON"),
    (
        "versions.yaml",
        "the plugin's, the operator's (images), the Kubernetes server's and the CRD's versions",
    ),
    ("operator/logs/", "the operator pods' last log lines (the API's pod log endpoint)"),
    ("operator/metrics/", "each operator pod's /metrics (through the API server's pod proxy)"),
    ("refusals.txt", "what could not be read (forbidden, not found, unreachable) and why"),
    (MANIFEST, "every file with its size, the stack, when, and how much was redacted where"),
)


@dataclass
class Bundle:
    """The files of one report, by path in the ZIP, and what the cluster refused to give."""

    namespace: str
    name: str
    created: str  # RFC 3339, UTC
    redactor: Redactor
    files: dict[str, str] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)

    def add_yaml(self, path: str, obj: object) -> None:
        self.files[path] = dump_yaml(self.redactor.redact_tree(obj, path))

    def add_text(self, path: str, text: str) -> None:
        self.files[path] = text

    def refuse(self, what: str, why: str) -> None:
        """Something the report could not read: said in refusals.txt and the README, never fatal."""
        self.refusals.append(f"{what}: {why}")


def child_path(obj: JSON) -> str:
    metadata = obj.get("metadata") or {}
    return f"children/{obj.get('kind', 'Unknown')}-{metadata.get('name', 'unnamed')}.yaml"


def readme_text(bundle: Bundle) -> str:
    redactor = bundle.redactor
    lines = [
        f"Support bundle of WebStack {bundle.namespace}/{bundle.name}, made {bundle.created}",
        "by `kubectl webstack report` with the credentials of whoever ran it.",
        "",
        "What is in it:",
        *(f"  {path:<20} {what}" for path, what in SECTIONS),
        "",
        "What was redacted:",
        "  - Secret values were never written: secrets/ lists each Secret's key names only, and no",
        "    object's environment variable taken from a Secret (secretKeyRef) was resolved.",
        "  - Every value of the stack's Secrets and of the Secrets its pods read "
        f"({MIN_LENGTH} characters or longer),",
        f"    as written and in its base64 forms, was replaced by {REDACTED} in every file and file name",
        "    (logs, events, objects, plan, metrics). Not struck: shorter values, and the values of keys",
        "    naming an identity or a place (username, database, host, port), which are no password.",
        f"    Replacements made: {sum(redactor.struck.values())}.",
        "  - The plan shows generated credentials as (hidden), as `kubectl webstack plan` does.",
        "",
    ]
    if bundle.refusals:
        lines += ["What could not be read (see refusals.txt):", *(f"  - {r}" for r in bundle.refusals), ""]
    else:
        lines += ["Everything asked for was read.", ""]
    return "\n".join(lines)


def manifest(bundle: Bundle, contents: dict[str, bytes]) -> JSON:
    redactor = bundle.redactor
    return {
        "formatVersion": FORMAT_VERSION,
        "webstack": {"namespace": bundle.namespace, "name": bundle.name},
        "created": bundle.created,
        "files": [{"path": p, "bytes": len(data)} for p, data in sorted(contents.items())],
        "refusals": list(bundle.refusals),
        "redactions": dict(sorted(redactor.struck.items())),
    }


def zip_bytes(bundle: Bundle) -> bytes:
    """The ZIP: every file redacted, then refusals.txt, README.txt and manifest.json describing them."""
    redactor = bundle.redactor
    contents = {
        redactor.redact(path, path): redactor.redact(text, path).encode()
        for path, text in sorted(bundle.files.items())
    }
    refusals = "".join(f"{r}\n" for r in bundle.refusals) or "nothing was refused\n"
    contents["refusals.txt"] = redactor.redact(refusals, "refusals.txt").encode()
    contents[README] = redactor.redact(readme_text(bundle), README).encode()
    described = json.dumps(manifest(bundle, contents), indent=2) + "\n"
    contents[MANIFEST] = redactor.redact(described, MANIFEST).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in (README, MANIFEST, *sorted(p for p in contents if p not in (README, MANIFEST))):
            archive.writestr(path, contents[path])
    return out.getvalue()
