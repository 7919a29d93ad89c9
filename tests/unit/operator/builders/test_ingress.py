"""Ingress: /api to the backend, / to the frontend, ALB settings, Argo's use-annotation port."""

from __future__ import annotations

import json

from tests.support.rendered_stacks import make_stack

from webstack_operator.builders.ingress import ingress, stack_url

CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0f6d3b7e-1c2a-4b8e-9d1f-2a3b4c5d6e7f"
HOST = {"enabled": True, "host": "shop.example.com"}


def test_disabled_renders_nothing() -> None:
    ctx = make_stack()
    assert ingress(ctx) is None
    assert stack_url(ctx) is None


def test_paths_and_class() -> None:
    obj = ingress(make_stack(ingress=HOST))
    assert obj is not None
    assert obj["spec"]["ingressClassName"] == "alb"
    [rule] = obj["spec"]["rules"]
    assert rule["host"] == "shop.example.com"
    assert [(p["path"], p["pathType"], p["backend"]["service"]) for p in rule["http"]["paths"]] == [
        ("/api", "Prefix", {"name": "shop-backend", "port": {"number": 80}}),
        ("/", "Prefix", {"name": "shop-frontend", "port": {"number": 80}}),
    ]


def test_alb_https_annotations() -> None:
    ctx = make_stack(ingress={**HOST, "certificateArn": CERT, "groupName": "shared", "scheme": "internal"})
    obj = ingress(ctx)
    assert obj is not None
    annotations = obj["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == CERT
    assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "shared"
    assert list(annotations) == sorted(annotations)
    assert stack_url(ctx) == "https://shop.example.com"


def test_plain_http_and_user_annotations_win() -> None:
    ctx = make_stack(ingress={**HOST, "annotations": {"alb.ingress.kubernetes.io/scheme": "x", "team": "a"}})
    obj = ingress(ctx)
    assert obj is not None
    assert obj["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "x"
    assert obj["metadata"]["annotations"]["team"] == "a"
    assert json.loads(obj["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"]) == [
        {"HTTP": 80}
    ]
    assert stack_url(ctx) == "http://shop.example.com"


def test_other_ingress_class_gets_no_alb_annotations() -> None:
    obj = ingress(make_stack(ingress={**HOST, "className": "nginx"}))
    assert obj is not None
    assert "annotations" not in obj["metadata"]


def test_canary_through_alb_uses_annotation_port() -> None:
    canary = {"delivery": {"strategy": "Canary", "steps": [{"setWeight": 10}]}}
    obj = ingress(make_stack(ingress=HOST, backend=canary))
    assert obj is not None
    api = obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert api == {"name": "shop-backend", "port": {"name": "use-annotation"}}
