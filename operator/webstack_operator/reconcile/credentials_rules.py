"""The generated database credentials: the rules that keep a volume and its password together.

Pure. Postgres reads `POSTGRES_PASSWORD` only when it initialises an empty data directory, so a Secret
that disappears while the volume stays must never be replaced by a fresh random one on the operator's own
initiative: the backend would be locked out of its data. A new password is written only on the user's
explicit action (`webstack.dev/regenerate-credentials` on the WebStack), and the Postgres pod's
credentials-sync sidecar then sets it inside the database.
"""

from __future__ import annotations

from enum import StrEnum

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.ownership import controller_of

REGENERATE_ANNOTATION = "webstack.dev/regenerate-credentials"  # on the WebStack: a one-shot action
REGENERATED_FOR = "webstack.dev/regenerated-for"  # on the Secret: which action wrote its password
RESTARTED_AT = "webstack.dev/restarted-at"  # on the backend's pod template: pick the new password up
ACTIONS_MANAGER = "webstack-operator-actions"  # field manager of action writes: never fights our apply


class Volume(StrEnum):
    ABSENT = "Absent"  # no data to protect: generating a password is safe
    GOING = "Going"  # being deleted, or owned by a StatefulSet that no longer exists: wait
    HOLDS_DATA = "HoldsData"  # initialised with a password nobody can read back


def regenerate_request(stack_body: JSON) -> str | None:
    """The value of the regenerate action on the WebStack, if the user asked for one."""
    value = (stack_body["metadata"].get("annotations") or {}).get(REGENERATE_ANNOTATION)
    return str(value) if value else None


def volume_state(pvc: JSON | None, live_statefulset_uid: str | None) -> Volume:
    """Whether the database's first volume holds data a new password would lock out."""
    if pvc is None or pvc["metadata"].get("deletionTimestamp"):
        return Volume.ABSENT if pvc is None else Volume.GOING
    owner = controller_of(pvc) or next(iter(pvc["metadata"].get("ownerReferences") or []), None)
    if owner is not None and owner.get("kind") == "StatefulSet" and owner.get("uid") != live_statefulset_uid:
        # `whenDeleted: Delete` made the StatefulSet its owner; that one is gone: garbage collection follows.
        return Volume.GOING
    return Volume.HOLDS_DATA


def owner_refs_fix(desired: JSON, live: JSON, uid: str) -> list[JSON] | None:
    """For an object written once (never applied again): the owner references it must carry so that it
    follows the stack's deletion policy in both directions, or None when it already does. Other owners'
    references are kept."""
    refs = list(live["metadata"].get("ownerReferences") or [])
    ours = [r for r in refs if r.get("uid") == uid]
    wanted = [r for r in desired["metadata"].get("ownerReferences") or [] if r.get("uid") == uid]
    if bool(ours) == bool(wanted):
        return None
    others = [r for r in refs if r.get("uid") != uid]
    return others + wanted


def missing_message(secret: str, pvc: str) -> str:
    return (
        f"the credentials Secret {secret} is missing but the volume {pvc} holds the database, initialised "
        f"with the password that Secret held: no new one is generated. Restore the Secret from a backup, or "
        f"annotate the WebStack {REGENERATE_ANNOTATION}=<any new value> to set a new password "
        f"(docs/ops/backup-dr.md)"
    )


def credentials_source_missing(spec: WebStackSpec, capabilities: Capabilities) -> list[Problem]:
    """A SealedSecret or ExternalSecret the cluster cannot serve renders nothing: the pods would wait for
    a Secret that never comes. Said at once, naming the API; cleared when discovery finds it installed."""
    creds = spec.database.credentials
    if creds.sealed_secret is not None and not capabilities.sealed_secrets:
        api, field, who = "bitnami.com/v1alpha1 SealedSecret", "sealedSecret", "the Sealed Secrets controller"
        reason = "SealedSecretsNotInstalled"
    elif creds.external_secret is not None and not capabilities.external_secrets:
        api, field, who = (
            "external-secrets.io/v1 ExternalSecret",
            "externalSecret",
            "External Secrets Operator",
        )
        reason = "ExternalSecretsNotInstalled"
    else:
        return []
    return [
        Problem(
            reason,
            f"spec.database.credentials.{field} needs {who}, but this cluster does not serve {api}: the "
            f"credentials Secret cannot be made and the pods wait for it. Install it (or use secretRef); "
            f"the stack continues by itself once the API is served",
        )
    ]
