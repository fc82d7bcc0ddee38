"""Authentication: who sent a request (client certificate, ServiceAccount token, or anonymous).

As kube-apiserver v1.32 with minikube's flags: `--client-ca-file` (CN = user, O = groups,
`staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go`, with the
`authentication.kubernetes.io/credential-id` extra `X509SHA256=<fingerprint>`), ServiceAccount
bearer tokens (`pkg/serviceaccount/jwt.go`: user `system:serviceaccount:NS:NAME`, uid the
ServiceAccount's, groups `system:serviceaccounts`, `system:serviceaccounts:NS`), the
`system:authenticated` group added to every authenticated user
(`authentication/group/authenticated_group_adder.go`), and `--anonymous-auth=true`: a request
with no credentials is `system:anonymous` in `system:unauthenticated`, while a credential that
does not authenticate is a 401 (`union.NewFailOnError`), never anonymous.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import resources as R
from .status import ApiError
from .tokens import TokenError

if TYPE_CHECKING:
    from .store import Store
    from .tokens import TokenIssuer

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"
ANONYMOUS = "system:anonymous"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    """user.Info: name, uid, groups and extra, as authenticators produce it."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def is_master(self) -> bool:
        """In system:masters: allowed everything, before RBAC (the privileged-group authorizer)."""
        return MASTERS in self.groups

    def as_status(self) -> dict[str, Any]:
        """The `userInfo` of a SelfSubjectReview / TokenReview status."""
        out: dict[str, Any] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra}
        return out


ANONYMOUS_USER = UserInfo(ANONYMOUS, (UNAUTHENTICATED,))
# the insecure (plain HTTP) mode of the fake: like the old insecure port, no authn or authz
INSECURE_USER = UserInfo("system:unsecured", (MASTERS, AUTHENTICATED))


class Unauthorized(ApiError):
    """401 as `filters/authentication.go` answers it (kubectl: You must be logged in...).

    `why` is what the server logs (and a TokenReview reports); the client only sees Unauthorized.
    """

    def __init__(self, why: str = "") -> None:
        super().__init__(401, "Unauthorized", "Unauthorized")
        self.why = why


def unauthorized(why: str = "") -> Unauthorized:
    """The 401 for a credential that does not authenticate."""
    return Unauthorized(why)


def from_certificate(peer: dict[str, Any], der: bytes) -> UserInfo | None:
    """The user of a verified client certificate: CN is the name, each O a group."""
    cn = ""
    orgs: list[str] = []
    for rdn in peer.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    if not cn:
        return None
    credential = "X509SHA256=" + hashlib.sha256(der).hexdigest()
    return UserInfo(cn, (*orgs, AUTHENTICATED), extra=((CREDENTIAL_ID, (credential,)),))


def from_token(
    token: str, issuer: TokenIssuer, store: Store, audiences: tuple[str, ...] | None = None
) -> UserInfo:
    """The ServiceAccount a bearer token stands for, or a 401."""
    try:
        claims = issuer.verify(token, audiences=audiences) if audiences else issuer.verify(token)
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    if claims.legacy_secret:
        _check_legacy_secret(token, claims, store)
    sa = store.get(R.SERVICEACCOUNT.key, claims.namespace, claims.name)
    if sa is None or sa["metadata"].get("uid") != claims.uid:
        # jwt.go: the ServiceAccount must still exist with the uid the token is bound to
        raise unauthorized("service account token has been invalidated")
    ns = claims.namespace
    extra: list[tuple[str, tuple[str, ...]]] = []
    if claims.jti:
        extra.append((CREDENTIAL_ID, (f"JTI={claims.jti}",)))
    for kind, name, uid in claims.bound:
        key = {"pod": ("", "pods"), "secret": ("", "secrets"), "node": ("", "nodes")}[kind]
        obj = store.get(key, "" if kind == "node" else ns, name)
        if obj is None or obj["metadata"].get("uid") != uid:
            raise unauthorized("service account token has been invalidated")  # bound object gone
        if kind != "secret":
            extra.append((f"authentication.kubernetes.io/{kind}-name", (name,)))
            extra.append((f"authentication.kubernetes.io/{kind}-uid", (uid,)))
    return UserInfo(
        f"system:serviceaccount:{ns}:{claims.name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{ns}", AUTHENTICATED),
        claims.uid,
        tuple(sorted(extra)),
    )


LAST_USED = "kubernetes.io/legacy-token-last-used"


def _check_legacy_secret(token: str, claims: Any, store: Store) -> None:
    """legacy.go Validate: the Secret still exists and holds this very token; its
    `legacy-token-last-used` label is set to today (legacytokentracking, at most daily)."""
    import base64
    from datetime import UTC, datetime

    secret = store.get(R.SECRET.key, claims.namespace, claims.legacy_secret)
    held = ((secret or {}).get("data") or {}).get("token", "")
    try:
        matches = base64.b64decode(held).decode() == token
    except (ValueError, UnicodeDecodeError):
        matches = False
    if secret is None or not matches:
        raise unauthorized("service account token has been invalidated")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    labels = secret["metadata"].setdefault("labels", {})
    if labels.get(LAST_USED) != today:
        labels[LAST_USED] = today
        store.put(R.SECRET.key, secret)


__all__ = [
    "ANONYMOUS_USER",
    "AUTHENTICATED",
    "INSECURE_USER",
    "MASTERS",
    "UNAUTHENTICATED",
    "Unauthorized",
    "UserInfo",
    "from_certificate",
    "from_token",
    "unauthorized",
]
