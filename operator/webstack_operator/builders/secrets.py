"""Database credentials: generated once, referenced, sealed (Sealed Secrets) or synced (External Secrets).

Whatever the source, the pods read one Secret (`StackContext.credentials_secret`) with fixed keys:
`username`, `password`, `database` for a Managed database, `uri` for an External one. With
`deletionPolicy: Retain` the credentials outlive the WebStack just like the volume they unlock: no owner
reference on the generated Secret, `creationPolicy: Orphan` on an ExternalSecret's target, and
`skip-set-owner-references` on a SealedSecret's.
"""

import base64

from webstack_operator.api.credentials_types import EXTERNAL_CREDENTIAL_KEY, MANAGED_CREDENTIAL_KEYS
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

APPLY_POLICY_ANNOTATION = "webstack.dev/apply-policy"
CREATE_ONLY = "create-only"
GENERATED_ANNOTATION = "webstack.dev/generated"
DATABASE_USER = "webstack"
DATABASE_NAME = "webstack"
SEALED_SKIP_OWNER_ANNOTATION = "sealedsecrets.bitnami.com/skip-set-owner-references"


def _retain(ctx: StackContext) -> bool:
    return ctx.spec.database.deletion_policy == "Retain"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def generated_secret(ctx: StackContext) -> JSON:
    """The generated credentials. The apply layer creates it once and never overwrites it (annotation), so
    a re-render with another password can never lock the application out of its own database."""
    if not ctx.generated_password:
        raise ValueError("generated_password is empty: the caller must supply the generated password")
    data = {"username": DATABASE_USER, "password": ctx.generated_password, "database": DATABASE_NAME}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(
            ctx,
            ctx.credentials_secret,
            labels.DATABASE,
            annotations={APPLY_POLICY_ANNOTATION: CREATE_ONLY, GENERATED_ANNOTATION: "true"},
            owned=not _retain(ctx),
        ),
        "type": "Opaque",
        "data": {key: _b64(value) for key, value in data.items()},
    }


def sealed_secret(ctx: StackContext) -> JSON:
    """The user's SealedSecret, rendered as-is; its controller creates the Secret of the same name."""
    sealed = ctx.spec.database.credentials.sealed_secret
    assert sealed is not None
    template_meta: JSON = {"labels": labels.standard_labels(ctx.name, labels.DATABASE)}
    if _retain(ctx):
        template_meta["annotations"] = {SEALED_SKIP_OWNER_ANNOTATION: "true"}
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": object_meta(ctx, ctx.credentials_secret, labels.DATABASE),
        "spec": {
            "encryptedData": dict(sorted(sealed.encrypted_data.items())),
            "template": {"metadata": template_meta, "type": "Opaque"},
        },
    }


def external_secret(ctx: StackContext) -> JSON:
    """An ExternalSecret that syncs the credentials Secret from the user's secret store."""
    external = ctx.spec.database.credentials.external_secret
    assert external is not None
    props = external.properties
    if ctx.database_managed:
        wanted = {key: getattr(props, key) for key in MANAGED_CREDENTIAL_KEYS}
    else:
        wanted = {EXTERNAL_CREDENTIAL_KEY: props.uri}
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": object_meta(ctx, ctx.credentials_secret, labels.DATABASE),
        "spec": {
            "refreshInterval": external.refresh_interval,
            "secretStoreRef": {"kind": external.store_ref.kind, "name": external.store_ref.name},
            "target": {
                "name": ctx.credentials_secret,
                "creationPolicy": "Orphan" if _retain(ctx) else "Owner",
                "template": {
                    "type": "Opaque",
                    "metadata": {"labels": labels.standard_labels(ctx.name, labels.DATABASE)},
                },
            },
            "data": [
                {"secretKey": key, "remoteRef": {"key": external.remote_key, "property": prop}}
                for key, prop in wanted.items()
            ],
        },
    }


def credentials(ctx: StackContext) -> list[JSON]:
    """The object that makes the credentials Secret exist, if the stack is responsible for it."""
    creds = ctx.spec.database.credentials
    caps = ctx.settings.capabilities
    if creds.secret_ref is not None:
        return []
    if creds.sealed_secret is not None:
        return [sealed_secret(ctx)] if caps.sealed_secrets else []
    if creds.external_secret is not None:
        return [external_secret(ctx)] if caps.external_secrets else []
    return [generated_secret(ctx)]
