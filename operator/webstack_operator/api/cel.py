"""CEL rules (`x-kubernetes-validations`) as the models declare them.

Cross-field rules are written twice on purpose: as CEL (enforced by the apiserver on create and update) and
as a pydantic validator (enforced offline by `webstack-operator render` and by the operator on what it
reads), both with the same message, so a user sees one wording wherever a bad spec is caught. Transition
rules (immutability) exist only as CEL: they need the old object, which only the apiserver has.
"""

from webstack_operator.kube.jsondata import JSON


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
    message_expression: str | None = None,
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry. `message_expression` (CEL) may name the bad value; the
    apiserver falls back to `message` if it fails."""
    entry = {"rule": rule, "message": message}
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def cel_rules(*rules: dict[str, str]) -> JSON:
    """The `x-kubernetes-validations` key of a schema, holding `rules`."""
    return {"x-kubernetes-validations": list(rules)}
