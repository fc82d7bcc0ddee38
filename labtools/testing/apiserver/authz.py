"""Every request's authentication, impersonation and authorization, before it is routed.

The filter chain of kube-apiserver v1.32 (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/`
`authentication.go`, `impersonation.go`, `authorization.go`), the request attributes of
`endpoints/request/requestinfo.go`, and the Forbidden texts of
`endpoints/handlers/responsewriters/errors.go` (forbiddenMessage) wrapped by
`apimachinery/pkg/api/errors.NewForbidden`.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .authn import (
    ANONYMOUS,
    ANONYMOUS_USER,
    AUTHENTICATED,
    INSECURE_USER,
    UNAUTHENTICATED,
    UserInfo,
    from_certificate,
    from_token,
)
from .rbac import RBAC, Attributes
from .status import ApiError

if TYPE_CHECKING:
    from .store import Store
    from .tokens import TokenIssuer

NAMESPACE_SUBRESOURCES = ("status", "finalize")
# exec/attach/portforward over WebSocket are GETs the server authorizes as `create`, as it does
# the SPDY POSTs (the AuthorizePodWebsocketUpgradeCreatePermission gate, on in v1.32)
UPGRADE_CREATE = ("exec", "attach", "portforward")
_PEER = "_fake_peer_user"


def request_attributes(
    user: UserInfo, method: str, raw_path: str, headers: Any = None
) -> Attributes:
    """requestinfo.go NewRequestInfo: verb, API group/version, namespace, resource, name."""
    split = urlsplit(raw_path)
    path = split.path
    verb = method.lower()
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return Attributes(user, verb, is_resource=False, path=path)
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return Attributes(user, verb, is_resource=False, path=path)
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in ("watch", "proxy") and len(parts) >= 2:
        verb, parts = parts[0], parts[1:]
    else:
        verb = {
            "POST": "create",
            "GET": "get",
            "HEAD": "get",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    sub = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    query = parse_qs(split.query)
    if not name and verb == "get":
        watch = (query.get("watch") or [""])[0].lower()
        verb = "watch" if "watch" in query and watch not in ("false", "0") else "list"
        name = _selected_name(query)
    if not name and verb == "delete":
        verb = "deletecollection"
    if verb == "get" and sub in UPGRADE_CREATE and _is_websocket(headers):
        verb = "create"
    return Attributes(user, verb, True, namespace, group, version, resource, sub, name, path)


def _selected_name(query: dict[str, list[str]]) -> str:
    """A list/watch with fieldSelector=metadata.name=X is authorized as on the name X."""
    selector = (query.get("fieldSelector") or [""])[0]
    terms = [t for t in selector.split(",") if t]
    if len(terms) != 1:
        return ""
    key, sep, value = terms[0].partition("==") if "==" in terms[0] else terms[0].partition("=")
    if sep and key.strip() == "metadata.name" and value and "/" not in value:
        return value.strip()
    return ""


def _is_websocket(headers: Any) -> bool:
    if headers is None:
        return False
    return "websocket" in (headers.get("Upgrade") or "").lower()


def forbidden_message(a: Attributes) -> str:
    """forbiddenMessage: `User "u" cannot VERB resource "r" in API group "g" ...`."""
    user = _go_quote(a.user.name)
    if not a.is_resource:
        return f"User {user} cannot {a.verb} path {_go_quote(a.path)}"
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    head = f"User {user} cannot {a.verb} resource {_go_quote(resource)} in API group "
    if a.namespace:
        return head + f"{_go_quote(a.api_group)} in the namespace {_go_quote(a.namespace)}"
    return head + f"{_go_quote(a.api_group)} at the cluster scope"


def forbidden(a: Attributes, reason: str = "") -> ApiError:
    """responsewriters.Forbidden: a 403 Status from the attributes (and the RBAC reason)."""
    msg = forbidden_message(a).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if reason:
        msg = f"{msg}: {reason}"
    resource = a.resource if a.is_resource else ""
    gr = f"{resource}.{a.api_group}" if a.api_group and resource else resource
    details: dict[str, Any] = {}
    if a.name:
        details["name"] = a.name
    if a.api_group and resource:
        details["group"] = a.api_group
    if resource:
        details["kind"] = resource
    if not gr:
        text = f"forbidden: {msg}"
    elif not a.name:
        text = f"{gr} is forbidden: {msg}"
    else:
        text = f"{gr} {_go_quote(a.name)} is forbidden: {msg}"
    return ApiError(403, "Forbidden", text, details)


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Guard:
    """Authenticates, impersonates and authorizes each request for the HTTP handler."""

    def __init__(self, store: Store, issuer: TokenIssuer, insecure: bool = False) -> None:
        self.store = store
        self.issuer = issuer
        self.insecure = insecure
        self.rbac = RBAC(store)

    def check(self, handler: Any) -> UserInfo:
        """The user a request acts as, or the 401/403 ApiError the real server answers."""
        user = self.authenticate(handler)
        if handler.headers.get("Impersonate-User") or handler.headers.get("Impersonate-Group"):
            user = self.impersonate(handler.headers, user)
        if user.is_master:
            return user  # the privileged-group authorizer answers before RBAC
        attrs = request_attributes(user, handler.command, handler.path, handler.headers)
        allowed, reason = self.rbac.authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)
        return user

    # ---- authentication ------------------------------------------------------------------
    def authenticate(self, handler: Any) -> UserInfo:
        """Client certificate first, then a bearer token, else anonymous (union authenticator)."""
        cert_user = self._peer_user(handler)
        if cert_user is not None:
            return cert_user
        auth = handler.headers.get("Authorization") or ""
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return from_token(token.strip(), self.issuer, self.store)
        return INSECURE_USER if self.insecure else ANONYMOUS_USER

    def _peer_user(self, handler: Any) -> UserInfo | None:
        # one handler per connection: the certificate is parsed once per connection
        cached: UserInfo | bool | None = getattr(handler, _PEER, False)
        if not isinstance(cached, bool):
            return cached
        if cached is True:
            return None  # looked before: no certificate on this connection
        user = None
        conn = handler.connection
        if isinstance(conn, ssl.SSLSocket):
            peer = conn.getpeercert()
            der = conn.getpeercert(binary_form=True)
            if peer and der:
                user = from_certificate(peer, der)
        setattr(handler, _PEER, user if user is not None else True)
        return user

    # ---- impersonation -------------------------------------------------------------------
    def impersonate(self, headers: Any, requestor: UserInfo) -> UserInfo:
        """filters/impersonation.go: authorize each Impersonate-* header, then switch user."""
        wanted = headers.get("Impersonate-User") or ""
        groups_wanted = list(headers.get_all("Impersonate-Group") or [])
        uid = headers.get("Impersonate-Uid") or ""
        extras = [
            (k[len("Impersonate-Extra-") :].lower(), v)
            for k, v in headers.items()
            if k.lower().startswith("impersonate-extra-")
        ]
        if not wanted:
            raise ApiError(
                500,
                "InternalError",
                f"Internal error occurred: requested {groups_wanted} without impersonating a user",
            )
        groups: list[str] = []
        name = wanted
        sa = _split_sa(wanted)
        if sa is not None:
            ns, sa_name = sa
            self._may_impersonate(requestor, "serviceaccounts", sa_name, ns)
            if not groups_wanted:
                groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
        else:
            self._may_impersonate(requestor, "users", wanted)
        for group in groups_wanted:
            self._may_impersonate(requestor, "groups", group)
            groups.append(group)
        if uid:
            self._may_impersonate(requestor, "uids", uid, group="authentication.k8s.io")
        extra: dict[str, list[str]] = {}
        for key, value in extras:
            self._may_impersonate(
                requestor, "userextras", value, group="authentication.k8s.io", sub=key
            )
            extra.setdefault(key, []).append(value)
        if name != ANONYMOUS:
            if AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
                groups.append(AUTHENTICATED)
        elif UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
        return UserInfo(name, tuple(groups), uid, tuple((k, tuple(v)) for k, v in extra.items()))

    def _may_impersonate(
        self,
        requestor: UserInfo,
        resource: str,
        name: str,
        namespace: str = "",
        group: str = "",
        sub: str = "",
    ) -> None:
        attrs = Attributes(
            requestor,
            "impersonate",
            True,
            namespace,
            group,
            "",
            resource,
            sub,
            name,
        )
        allowed, reason = self.rbac.authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)


def _split_sa(username: str) -> tuple[str, str] | None:
    """serviceaccount.SplitUsername: `system:serviceaccount:NS:NAME`."""
    prefix = "system:serviceaccount:"
    if not username.startswith(prefix):
        return None
    parts = username[len(prefix) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


__all__ = ["Guard", "forbidden", "forbidden_message", "request_attributes"]
