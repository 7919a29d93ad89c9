"""Property tests over random valid WebStacks: every rendered stack passes the hardening policy, carries
the standard labels, keeps names within Kubernetes limits, and has selectors that match their pods."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import hardening_policy as policy
from tests.support.rendered_stacks import OWNER, SETTINGS

from webstack_operator.api.backend_types import RESERVED_BACKEND_ENV
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.stack_objects import APPLY_ORDER, desired_objects
from webstack_operator.config.operator_settings import Capabilities, OperatorSettings

names = st.from_regex(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", fullmatch=True)
namespaces = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
tags = st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True)
images = st.builds(
    lambda repo, tag: f"{repo}:{tag}",
    st.sampled_from(
        ["ghcr.io/webstack-dev/users-api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", "api"]
    ),
    tags,
)
cpus = st.sampled_from(["50m", "100m", "250m", "500m"])
memories = st.sampled_from(["64Mi", "128Mi", "256Mi"])


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "requests": {"cpu": draw(cpus), "memory": draw(memories)},
        "limits": {"memory": "512Mi", **({"cpu": "1"} if draw(st.booleans()) else {})},
    }


env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True).filter(
    lambda n: n not in RESERVED_BACKEND_ENV
)


@st.composite
def backends(draw: st.DrawFn, monitoring: bool) -> dict[str, Any]:
    backend: dict[str, Any] = {"image": draw(images), "replicas": draw(st.integers(1, 10))}
    if draw(st.booleans()):
        backend["resources"] = draw(resources())
    env = draw(st.lists(env_names, max_size=4, unique=True))
    if env:
        backend["env"] = [{"name": n, "value": "v"} for n in env]
    if draw(st.booleans()):
        low = draw(st.integers(1, 5))
        backend["autoscaling"] = {"minReplicas": low, "maxReplicas": draw(st.integers(low, 20))}
    if draw(st.booleans()):
        backend["iamRoleArn"] = "arn:aws:iam::123456789012:role/api"
    if draw(st.booleans()):
        steps = draw(
            st.lists(
                st.one_of(
                    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
                    st.sampled_from([{"pause": {}}, {"pause": {"duration": "30s"}}]),
                ),
                min_size=1,
                max_size=5,
            )
        )
        delivery: dict[str, Any] = {"strategy": "Canary", "steps": steps}
        if monitoring and draw(st.booleans()):
            delivery["analysis"] = {"prometheusAddress": "http://prometheus.monitoring:9090"}
        backend["delivery"] = delivery
    return backend


# Placements as a user writes them: each field absent, empty (clearing the default) or set.
placements = st.fixed_dictionaries(
    {},
    optional={
        "nodeSelector": st.sampled_from([{}, {"eks.amazonaws.com/capacityType": "SPOT"}]),
        "tolerations": st.sampled_from(
            [[], [{"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]]
        ),
        "topologySpreadConstraints": st.sampled_from(
            [
                [],
                [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                    }
                ],
            ]
        ),
    },
)


def _place(draw: st.DrawFn, spec: dict[str, Any]) -> None:
    """A placement, maybe, on the stack and on each section that runs pods."""
    if draw(st.booleans()):
        spec["placement"] = draw(placements)
    for section in ("backend", "frontend", "database", "cache"):
        runs_pods = spec[section].get("mode", "Managed") == "Managed"
        if runs_pods and draw(st.booleans()):
            spec[section]["placement"] = draw(placements)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    monitoring = draw(st.booleans())
    spec: dict[str, Any] = {
        "backend": draw(backends(monitoring)),
        "monitoring": {
            "enabled": monitoring,
            "alerts": draw(st.booleans()),
            "dashboard": draw(st.booleans()),
        },
        "frontend": {"replicas": draw(st.integers(1, 5))},
        "security": {
            "networkPolicies": draw(st.booleans()),
            "podDisruptionBudgets": draw(st.booleans()),
            **({"priorityClassName": "webstack-high"} if draw(st.booleans()) else {}),
        },
        "backup": {
            "enabled": draw(st.booleans()),
            "volumeBackupMethod": draw(st.sampled_from(["Snapshot", "FileSystem"])),
        },
    }
    db_mode = draw(st.sampled_from(["Managed", "External"]))
    source = draw(
        st.sampled_from(
            ["generated", "secretRef", "sealed", "external"]
            if db_mode == "Managed"
            else ["secretRef", "sealed", "external"]
        )
    )
    keys = ["username", "password", "database"] if db_mode == "Managed" else ["uri"]
    credentials = {
        "generated": {},
        "secretRef": {"secretRef": {"name": "db-credentials"}},
        "sealed": {"sealedSecret": {"encryptedData": dict.fromkeys(keys, "AgBz")}},
        "external": {"externalSecret": {"storeRef": {"name": "store"}, "remoteKey": "prod/db"}},
    }[source]
    spec["database"] = {
        "mode": db_mode,
        "credentials": credentials,
        "deletionPolicy": draw(st.sampled_from(["Retain", "Delete"])),
        "storage": {"size": draw(st.sampled_from(["1Gi", "10Gi", 5368709120]))},
    }
    cache_mode = draw(st.sampled_from(["Managed", "External", "Disabled"]))
    spec["cache"] = {"mode": cache_mode, "maxMemory": draw(st.sampled_from(["64mb", "256mb", "1gb"]))}
    if cache_mode == "External":
        spec["cache"] |= draw(
            st.sampled_from([{"url": "redis://cache:6379/0"}, {"secretRef": {"name": "redis"}}])
        )
    if draw(st.booleans()):
        spec["ingress"] = {
            "enabled": True,
            "host": "shop.example.com",
            "className": draw(st.sampled_from(["alb", "nginx"])),
        }
    _place(draw, spec)
    return spec


capabilities = st.builds(
    Capabilities, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)


@st.composite
def stacks(draw: st.DrawFn) -> StackContext:
    settings_ = OperatorSettings(
        frontend_nginx_template=SETTINGS.frontend_nginx_template,
        frontend_assets=SETTINGS.frontend_assets,
        capabilities=draw(capabilities),
    )
    return StackContext(
        spec=WebStackSpec.model_validate(draw(specs())),
        name=draw(names),
        namespace=draw(namespaces),
        settings=settings_,
        owner=draw(st.sampled_from([OWNER, None])),
        generated_password="p" * 32,
        generated_cache_password="c" * 32,
    )


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(stacks())
def test_every_pod_passes_the_hardening_policy(ctx: StackContext) -> None:
    objects = desired_objects(ctx)
    assert [v for obj in objects for v in policy.hardening_violations(obj)] == []


@PROPERTY_SETTINGS
@given(stacks())
def test_labels_names_and_selectors(ctx: StackContext) -> None:
    objects = desired_objects(ctx)
    problems = [
        *[v for obj in objects for v in policy.label_violations(obj)],
        *[v for obj in objects for v in policy.name_violations(obj)],
        *[v for obj in objects for v in policy.selector_violations(obj, objects)],
    ]
    assert problems == []


@PROPERTY_SETTINGS
@given(stacks())
def test_order_identity_ownership_and_determinism(ctx: StackContext) -> None:
    objects = desired_objects(ctx)
    order = [APPLY_ORDER.index(o["kind"]) for o in objects]
    assert order == sorted(order)
    identities = [
        (o["apiVersion"], o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects
    ]
    assert len(identities) == len(set(identities))
    for obj in objects:
        meta = obj["metadata"]
        if meta["namespace"] != ctx.namespace:
            assert obj["kind"] == "Schedule" and "ownerReferences" not in meta
            assert meta["labels"]["webstack.dev/stack-namespace"] == ctx.namespace
        elif ctx.owner is not None and not (
            obj["kind"] == "Secret" and ctx.spec.database.deletion_policy == "Retain"
        ):
            assert meta["ownerReferences"][0]["uid"] == ctx.owner.uid
    assert json.dumps(objects) == json.dumps(desired_objects(ctx))


@PROPERTY_SETTINGS
@given(stacks())
def test_backend_env_is_unique_and_references_known_secrets(ctx: StackContext) -> None:
    objects = desired_objects(ctx)
    backend = next(
        o
        for o in objects
        if o["kind"] in ("Deployment", "Rollout") and o["metadata"]["name"].endswith("-backend")
    )
    env = backend["spec"]["template"]["spec"]["containers"][0]["env"]
    names_ = [e["name"] for e in env]
    assert len(names_) == len(set(names_))
    assert ("DATABASE_URL" in names_) == (ctx.spec.database.mode == "External")
    assert ("REDIS_URL" in names_) == (ctx.spec.cache.mode != "Disabled")


@PROPERTY_SETTINGS
@given(stacks())
def test_every_spread_counts_the_pods_it_is_on(ctx: StackContext) -> None:
    """A spread the operator writes (built in, or a user's without labelSelector) selects its own pods: a
    selector matching none of them would spread nothing."""
    for obj in desired_objects(ctx):
        template = obj.get("spec", {}).get("template", {})
        pod_labels = template.get("metadata", {}).get("labels", {})
        for constraint in template.get("spec", {}).get("topologySpreadConstraints", []):
            assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items(), obj["kind"]
