"""The credentials Secrets' writes: created once, never over a volume that needs the old password, their
owner reference following the deletion policy, a new password only on the user's explicit action.

Two Secrets may be generated: the database's (`<name>-postgres`) and the cache's (`<name>-redis`). Only the
first guards data; the second is recreated with a new password if it goes missing, and then Redis and the
backend restart together so that they agree on it again.

The rules are pure (`credentials_rules.py`); this carries them out with the apply layer's requests and
tells the user through the reconcile's Events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from webstack_operator.builders.backend import backend_name
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.postgres import DATA_VOLUME, statefulset_name
from webstack_operator.builders.redis import redis_name
from webstack_operator.builders.secrets import GENERATED_ANNOTATION
from webstack_operator.kube.apply import create_once, get_object, merge_patch
from webstack_operator.kube.client import KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.ownership import Ownership, ownership
from webstack_operator.objects.stamps import (
    ObjectKey,
    key_of,
    resource_version,
    stamped,
    where,
)
from webstack_operator.observe.cache import ChildCache, StackKey
from webstack_operator.reconcile.credentials_rotation import CredentialsRotation
from webstack_operator.reconcile.credentials_rules import (
    REGENERATE_ANNOTATION,
    REGENERATED_FOR,
    Volume,
    missing_message,
    owner_refs_fix,
    regenerate_request,
    volume_state,
)
from webstack_operator.reconcile.decisions import Event, Tell, WriteOutcome
from webstack_operator.reconcile.findings import COLLECTION_RECHECK_SECONDS, Findings
from webstack_operator.reconcile.one_shot import consume_request
from webstack_operator.reconcile.restart_action import restart_patch, roll

Announce = Callable[[JSON, JSON, WriteOutcome], Awaitable[None]]


@dataclass
class CredentialsKeeper:
    client: KubeClient
    cache: ChildCache
    tell: Tell  # an Event on the WebStack
    announce: Announce  # a write's Event and metrics, as for any child
    clock: Callable[[], str]  # now, RFC 3339
    # A Managed database's existing Secret: a request rotates it, no failed request (credentials_rotation)
    rotation: CredentialsRotation = field(init=False)

    def __post_init__(self) -> None:
        self.rotation = CredentialsRotation(self.client, self.cache, self.tell, self.clock)

    async def create(
        self,
        stack: StackKey,
        owner: JSON,
        ctx: StackContext,
        obj: JSON,
        resource: Resource,
        live: JSON | None,
        found: Findings,
    ) -> None:
        """Creates the object if the name is free (never a new password over a volume that needs the old
        one), or takes over a user's object annotated for adoption, leaving its content alone."""
        uid, request = owner["metadata"]["uid"], regenerate_request(owner)
        generated = is_generated(obj)
        if live is not None:  # adopted: labels and owner references only, never the data
            refs = owner_refs_fix(obj, live, uid)
            meta: JSON = {"labels": obj["metadata"]["labels"], "resourceVersion": resource_version(live)}
            if refs is not None:
                meta["ownerReferences"] = refs
            patch = {"metadata": meta}
            self.cache.upsert(
                await merge_patch(self.client, resource, *where(obj), patch),
                answer=True,
            )
            await self.announce(owner, obj, WriteOutcome.ADOPTED)
            return
        if generated and request is None and ctx.database_managed and is_database_secret(ctx, obj):
            state, pvc = await self._volume(stack, uid, ctx)
            if state is Volume.HOLDS_DATA:
                found.credentials_missing(missing_message(obj["metadata"]["name"], pvc))
                return
            if state is Volume.GOING:
                found.later(COLLECTION_RECHECK_SECONDS)
                return
        body = _with_annotation(obj, REGENERATED_FOR, request) if generated and request else obj
        result, created = await create_once(self.client, resource, stamped(body)[0])
        self.cache.upsert(result, answer=True)
        if generated and request and created:
            await self._regenerated(owner, ctx, obj, created=True)
        elif created:
            await self.announce(owner, obj, WriteOutcome.CREATED)
            if generated and not is_database_secret(ctx, obj):
                # A new cache password while Redis or the backend may run with another (the Secret was
                # deleted, or the stack predates it): both restart to read this one.
                await self._restart(ctx, cache=True)

    def database_waits(
        self, stack: StackKey, uid: str, ctx: StackContext, desired: list[JSON], obj: JSON
    ) -> bool:
        """The Postgres StatefulSet is not created before its generated credentials exist: its pod would
        start without them, and a new StatefulSet claims a volume still being collected (a stack deleted and
        re-created at once) whose password would then be lost with the old Secret. What an earlier WebStack
        of the name left for garbage collection counts as absent: collection deletes its StatefulSet and its
        Secret in no set order, and a new StatefulSet made between the two would hold the old volume."""
        if obj["kind"] != "StatefulSet" or obj["metadata"]["name"] != statefulset_name(ctx):
            return False
        generated = [o for o in desired if is_generated(o) and is_database_secret(ctx, o)]

        def absent(key: ObjectKey) -> bool:
            seen = self.cache.get(key)
            return seen is None or ownership(seen.obj, stack, uid) is Ownership.DOOMED

        return bool(generated) and absent(key_of(generated[0])) and absent(key_of(obj))

    async def settle(self, owner: JSON, ctx: StackContext, obj: JSON, resource: Resource, live: JSON) -> None:
        """An existing object written once: its owner references follow the deletion policy (both ways),
        and the regenerate action replaces its password: the cache's at once, the database's by a
        rotation."""
        uid, request = owner["metadata"]["uid"], regenerate_request(owner)
        meta: JSON = {}
        refs = owner_refs_fix(obj, live, uid)
        if refs is not None:
            meta["ownerReferences"] = refs
        rotate = bool(request) and is_generated(obj) and _annotation(live, REGENERATED_FOR) != request
        database = rotate and ctx.database_managed and is_database_secret(ctx, obj)
        start = self.rotation.start if database else None
        if start is not None:
            rotate = False  # after the owner references: the rotation reads the Secret afresh
        patch: JSON = {}
        if rotate:
            meta["annotations"] = {REGENERATED_FOR: request}
            patch["data"] = obj["data"]  # the password this render generated
        if not meta:
            if start is not None and request is not None:
                await start(owner, ctx, request)
            return
        patch["metadata"] = {**meta, "resourceVersion": resource_version(live)}
        answer = await merge_patch(self.client, resource, *where(obj), patch)
        self.cache.upsert(answer, answer=True)
        if rotate:
            await self._regenerated(owner, ctx, obj, created=False)
            return
        if start is not None and request is not None:
            await start(owner, ctx, request)
        owned = any(r.get("uid") == uid for r in refs or [])
        what = "set: deleted with" if owned else "removed: kept after"
        message = f"{obj['kind']} {obj['metadata']['name']}: owner reference {what} the WebStack"
        await self.tell(owner, Event("Normal", "Updated", f"{message} (database.deletionPolicy)"))

    async def consume(self, stack: StackKey, owner: JSON, desired: list[JSON]) -> JSON | None:
        """Removes the one-shot action from the WebStack once its Secret carries it (or it cannot apply);
        the WebStack as written, or None when there was nothing to do yet."""
        request = regenerate_request(owner)
        if request is None:
            return None
        generated = [o for o in desired if is_generated(o)]
        if generated:
            for obj in generated:
                seen = self.cache.get(key_of(obj))
                if seen is None or _annotation(seen.obj, REGENERATED_FOR) != request:
                    return None  # not done yet (a conflict, an error): the next reconcile tries again
        else:
            await self.tell(
                owner,
                Event(
                    "Warning",
                    "RegenerateIgnored",
                    f"{REGENERATE_ANNOTATION}: this stack's credentials are not generated by the operator "
                    "(secretRef, SealedSecret or ExternalSecret): rotate them at their source",
                ),
            )
        return await consume_request(self.client, stack, REGENERATE_ANNOTATION)

    async def _volume(self, stack: StackKey, uid: str, ctx: StackContext) -> tuple[Volume, str]:
        """Whether the database volume holds data (read only when the credentials are missing: rare). A
        StatefulSet of an earlier WebStack of the name is not live: its volume is being collected with it."""
        sts = statefulset_name(ctx)
        pvc_name = f"{DATA_VOLUME}-{sts}-0"
        resource = self.client.resource("v1", "PersistentVolumeClaim")
        assert resource is not None, "core/v1 is always served"
        pvc = await get_object(self.client, resource, stack[0], pvc_name)
        seen = self.cache.get(("apps/v1", "StatefulSet", stack[0], sts))
        live = seen is not None and ownership(seen.obj, stack, uid) is not Ownership.DOOMED
        return volume_state(pvc, seen.obj["metadata"]["uid"] if seen and live else None), pvc_name

    async def _regenerated(self, owner: JSON, ctx: StackContext, secret: JSON, *, created: bool) -> None:
        """After a new password: the backend restarts to read it (Postgres's credentials-sync sidecar sets
        it in the database; Redis restarts too, it reads its password only at start), and the user is
        told."""
        database = is_database_secret(ctx, secret)
        await self._restart(ctx, cache=not database)
        what = "created" if created else "replaced"
        who = "Postgres takes it within about a minute" if database else "Redis restarts (an empty cache)"
        await self.tell(
            owner,
            Event(
                "Warning",
                "CredentialsRegenerated",
                f"Secret {secret['metadata']['name']}: a new password was {what} on request "
                f"({REGENERATE_ANNOTATION}); {who}, the backend restarts",
            ),
        )

    async def _restart(self, ctx: StackContext, *, cache: bool) -> None:
        """Rolls the backend's pods (and Redis's, with `cache`) that exist, so they read the Secret anew."""
        now, backend = self.clock(), backend_name(ctx)
        targets = [("Deployment", backend), ("Rollout", backend)]
        if cache:
            targets.append(("Deployment", redis_name(ctx)))
        for kind, name in targets:
            await roll(self.client, self.cache, ctx.namespace, kind, name, restart_patch(kind, now))


def is_generated(obj: JSON) -> bool:
    return obj["kind"] == "Secret" and _annotation(obj, GENERATED_ANNOTATION) == "true"


def is_database_secret(ctx: StackContext, obj: JSON) -> bool:
    """The database's credentials (the only generated Secret whose loss could lock data out)."""
    return obj["kind"] == "Secret" and str(obj["metadata"]["name"]) == ctx.credentials_secret


def _annotation(obj: JSON, key: str) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(key)


def _with_annotation(obj: JSON, key: str, value: str) -> JSON:
    meta = obj["metadata"]
    return {**obj, "metadata": {**meta, "annotations": {**(meta.get("annotations") or {}), key: value}}}
