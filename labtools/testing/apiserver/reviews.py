"""Access reviews, token reviews and TokenRequest, answered by the real authorizer.

`pkg/registry/authorization/{selfsubjectaccessreview,selfsubjectrulesreview,subjectaccessreview,
localsubjectaccessreview}/rest.go`, `pkg/registry/authentication/{selfsubjectreview,tokenreview}/`,
`pkg/registry/core/serviceaccount/storage/token.go` and
`pkg/apis/authentication/validation/validation.go` (ValidateTokenRequest).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .authn import Unauthorized, UserInfo, from_token
from .rbac import Attributes
from .status import ApiError, bad_request
from .tokens import DEFAULT_EXPIRATION, MAX_EXPIRATION, MIN_EXPIRATION

if TYPE_CHECKING:
    from .authz import Guard
    from .store import Obj

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"


def review(guard: Guard, body: Obj, user: UserInfo, namespace: str = "") -> Obj:
    """Answer one review object POSTed by `user`."""
    kind = body.get("kind", "")
    out: Obj = {
        "kind": kind,
        "apiVersion": body.get("apiVersion", ""),
        "metadata": {"creationTimestamp": None},
    }
    spec = body.get("spec") or {}
    if kind == "SelfSubjectAccessReview":
        out["spec"] = spec
        out["status"] = _access(guard, user, spec, kind)
    elif kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        if kind == "LocalSubjectAccessReview":
            out["metadata"]["namespace"] = namespace
            _check_local_namespace(spec, namespace)
        out["spec"] = spec
        out["status"] = _access(guard, _spec_user(spec, kind), spec, kind)
    elif kind == "SelfSubjectRulesReview":
        out["spec"] = spec
        out["status"] = _rules(guard, user, spec.get("namespace") or "")
    elif kind == "SelfSubjectReview":
        out["status"] = {"userInfo": user.as_status()}
    elif kind == "TokenReview":
        out["spec"] = spec
        out["status"] = _token_review(guard, spec)
    else:
        raise bad_request(f"unknown review kind {kind!r}")
    return out


def _access(guard: Guard, user: UserInfo, spec: Obj, kind: str) -> Obj:
    res: Obj = spec.get("resourceAttributes") or {}
    nonres: Obj = spec.get("nonResourceAttributes") or {}
    if bool(res) == bool(nonres):
        raise _invalid_review(kind, spec)
    if res:
        attrs = Attributes(
            user,
            res.get("verb", ""),
            True,
            res.get("namespace", ""),
            res.get("group", ""),
            res.get("version", ""),
            res.get("resource", ""),
            res.get("subresource", ""),
            res.get("name", ""),
        )
    else:
        attrs = Attributes(
            user, nonres.get("verb", ""), is_resource=False, path=nonres.get("path", "")
        )
    allowed, reason = guard.rbac.authorize(attrs)
    status: Obj = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return status


def _invalid_review(kind: str, spec: Obj) -> ApiError:
    if spec.get("resourceAttributes"):
        fld = "spec.nonResourceAttributes"
        msg = 'Invalid value: "": cannot be specified in combination with resourceAttributes'
        reason = "FieldValueInvalid"
    else:
        fld = "spec.resourceAttributes"
        msg = (
            "Required value: exactly one of nonResourceAttributes or resourceAttributes "
            "must be specified"
        )
        reason = "FieldValueRequired"
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{AUTHZ} "" is invalid: {fld}: {msg}',
        {
            "group": AUTHZ,
            "kind": kind,
            "causes": [{"reason": reason, "message": msg, "field": fld}],
        },
    )


def _spec_user(spec: Obj, kind: str) -> UserInfo:
    name, groups = spec.get("user") or "", tuple(spec.get("groups") or ())
    if not name and not groups:
        msg = 'Invalid value: "": at least one of user or group must be specified'
        raise ApiError(
            422,
            "Invalid",
            f'{kind}.{AUTHZ} "" is invalid: spec.user: {msg}',
            {
                "group": AUTHZ,
                "kind": kind,
                "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": "spec.user"}],
            },
        )
    extra = tuple((k, tuple(v)) for k, v in (spec.get("extra") or {}).items())
    return UserInfo(name, groups, spec.get("uid") or "", extra)


def _check_local_namespace(spec: Obj, namespace: str) -> None:
    res = spec.get("resourceAttributes") or {}
    if res and res.get("namespace", "") != namespace:
        raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")


def _rules(guard: Guard, user: UserInfo, namespace: str) -> Obj:
    rules, errors = guard.rbac.rules_for(user, namespace)
    resource_rules, non_resource = [], []
    for rule in rules:
        if rule.get("resources"):
            entry: Obj = {
                "verbs": rule.get("verbs") or [],
                "apiGroups": rule.get("apiGroups") or [],
                "resources": rule["resources"],
            }
            if rule.get("resourceNames"):
                entry["resourceNames"] = rule["resourceNames"]
            resource_rules.append(entry)
        if rule.get("nonResourceURLs"):
            non_resource.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
    status: Obj = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource,
        "incomplete": False,
    }
    if errors:
        from .rbac import aggregate_errors

        status["evaluationError"] = aggregate_errors(errors)
    return status


def _token_review(guard: Guard, spec: Obj) -> Obj:
    """tokenreview/storage.go: authenticate a token for the audiences asked for."""
    token = spec.get("token") or ""
    wanted = tuple(spec.get("audiences") or ("https://kubernetes.default.svc.cluster.local",))
    try:
        user = from_token(token, guard.issuer, guard.store, wanted)
    except Unauthorized as err:
        return {"user": {}, "error": f"[invalid bearer token, {err.why or 'invalid token'}]"}
    claims = guard.issuer.verify(token, audiences=wanted)
    return {
        "authenticated": True,
        "user": user.as_status(),
        "audiences": [a for a in claims.audiences if a in wanted],
    }


def token_request(guard: Guard, body: Obj, sa: Obj) -> Obj:
    """POST serviceaccounts/NAME/token: validate, default, sign."""
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_EXPIRATION
    seconds = int(seconds)
    _validate_expiration(seconds)
    audiences = spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"]
    bound = _bound_objects(guard, sa, spec.get("boundObjectRef"))
    token, expiry = guard.issuer.issue(sa, seconds, list(audiences), bound=bound)
    meta = sa["metadata"]
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": None,
        },
        "spec": {
            "audiences": list(audiences),
            "expirationSeconds": seconds,
            "boundObjectRef": spec.get("boundObjectRef"),
        },
        "status": {
            "token": token,
            "expirationTimestamp": datetime.fromtimestamp(expiry, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        },
    }


def _bound_objects(guard: Guard, sa: Obj, ref: Obj | None) -> dict[str, Obj]:
    """token.go: the Pod, Secret or Node a token is bound to (and a pod's node)."""
    if not ref:
        return {}
    from . import resources as R
    from .status import conflict, not_found

    kind, name = ref.get("kind", ""), ref.get("name", "")
    api_version = ref.get("apiVersion") or "v1"
    ns, sa_name = sa["metadata"]["namespace"], sa["metadata"]["name"]
    table = {"Pod": (R.POD, ns), "Secret": (R.SECRET, ns), "Node": (R.NODE, "")}
    if api_version != "v1" or kind not in table:
        group, _, version = api_version.rpartition("/")
        raise bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    res, where = table[kind]
    obj = guard.store.get(res.key, where, name)
    if obj is None:
        raise not_found(res, name)
    if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
        err = conflict(res, name)
        err.message = (
            f'Operation cannot be fulfilled on {kind} "{name}": the UID in the bound object '
            f"reference ({ref['uid']}) does not match the UID in record ({obj['metadata']['uid']})."
            " The object might have been deleted and then recreated"
        )
        raise err
    bound = {kind.lower(): obj}
    if kind == "Pod":
        running_as = (obj.get("spec") or {}).get("serviceAccountName", "")
        if running_as != sa_name:
            raise bad_request(
                f'cannot bind token for serviceaccount "{sa_name}" to pod running with '
                f'serviceaccount "{running_as}"'
            )
        node_name = (obj.get("spec") or {}).get("nodeName")
        node = guard.store.get(R.NODE.key, "", node_name) if node_name else None
        if node is not None:
            bound["node"] = node
    return bound


def _validate_expiration(seconds: int) -> None:
    if seconds < MIN_EXPIRATION:
        text = "may not specify a duration less than 10 minutes"
    elif seconds > MAX_EXPIRATION:
        text = "may not specify a duration larger than 2^32 seconds"
    else:
        return
    msg = f"Invalid value: {seconds}: {text}"
    fld = "spec.expirationSeconds"
    raise ApiError(
        422,
        "Invalid",
        f'TokenRequest.{AUTHN} "" is invalid: {fld}: {msg}',
        {
            "group": AUTHN,
            "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": fld}],
        },
    )


__all__ = ["review", "token_request"]
