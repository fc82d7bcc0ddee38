"""ServiceAccount tokens: TokenRequest issues RS256 JWTs, the authenticator verifies them.

Follows `pkg/serviceaccount/claims.go` and `jwt.go` (kube-apiserver v1.32): issuer and audience
`https://kubernetes.default.svc.cluster.local` (minikube's `--service-account-issuer`), claims
`aud, exp, iat, iss, jti, kubernetes.io{namespace, serviceaccount{name, uid}}, nbf, sub`, header
`{"alg":"RS256","kid":...}`, and validation that rejects expired tokens (go-jose's one-minute
leeway) and tokens whose ServiceAccount is gone or was re-created with another uid.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"  # pkg/serviceaccount/legacy.go
API_AUDIENCES = (ISSUER,)
LEEWAY = 60  # go-jose's DefaultLeeway, used by jwt.Claims.Validate
MIN_EXPIRATION = 600  # pkg/apis/authentication/validation: MinTokenAgeSec
MAX_EXPIRATION = 1 << 32
DEFAULT_EXPIRATION = 3600


class TokenError(Exception):
    """A bearer token that does not authenticate (the request gets a 401)."""


@dataclass(frozen=True)
class Claims:
    """What a verified ServiceAccount token says."""

    namespace: str
    name: str
    uid: str
    jti: str
    expiry: int
    # objects the token is bound to, besides the ServiceAccount: ("pod"|"secret"|"node", name, uid)
    bound: tuple[tuple[str, str, str], ...] = ()
    audiences: tuple[str, ...] = API_AUDIENCES
    # a legacy (Secret-held, never expiring) token: the Secret that must still hold it
    legacy_secret: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs and verifies ServiceAccount JWTs with one RSA key kept in the cert directory."""

    def __init__(self, key_file: Path | None) -> None:
        self.key_file = key_file
        self._key: rsa.RSAPrivateKey | None = None
        self._kid = ""
        self._lock = threading.Lock()
        # verified tokens: signature checks are the expensive part of authenticating
        self._verified: dict[str, Claims] = {}

    # ---- key ---------------------------------------------------------------------------
    def key(self) -> rsa.RSAPrivateKey:
        """The signing key: loaded from disk, or generated on first use and saved (0600)."""
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
                der = self._key.public_key().public_bytes(
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                )
                # keyIDFromPublicKey: base64url(sha256(DER of the public key)), unpadded
                self._kid = _b64(hashlib.sha256(der).digest())
            return self._key

    def _load_or_create(self) -> rsa.RSAPrivateKey:
        path = self.key_file
        if path is not None and path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                return loaded
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )
            os.chmod(tmp, 0o600)
            tmp.replace(path)
        return key

    # ---- issue -------------------------------------------------------------------------
    def issue(
        self,
        sa: dict[str, Any],
        seconds: int,
        audiences: list[str],
        now: int | None = None,
        bound: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[str, int]:
        """A signed token for a ServiceAccount object; returns (token, expiry).

        `bound` maps "pod", "secret" or "node" to the object the token is bound to.
        """
        meta = sa["metadata"]
        issued = int(time.time()) if now is None else now
        private: dict[str, Any] = {"namespace": meta["namespace"]}
        for kind, obj in sorted((bound or {}).items()):
            private[kind] = {"name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
        private["serviceaccount"] = {"name": meta["name"], "uid": meta["uid"]}
        payload = {
            "aud": audiences,
            "exp": issued + seconds,
            "iat": issued,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": issued,
            "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
        }
        return self.sign(payload), issued + seconds

    def issue_legacy(self, sa: dict[str, Any], secret_name: str) -> str:
        """LegacyClaims: the token the tokens controller writes into a service-account-token
        Secret (no exp, no aud, valid while the Secret and the ServiceAccount are)."""
        meta = sa["metadata"]
        prefix = "kubernetes.io/serviceaccount/"
        return self.sign(
            {
                "iss": LEGACY_ISSUER,
                f"{prefix}namespace": meta["namespace"],
                f"{prefix}secret.name": secret_name,
                f"{prefix}service-account.name": meta["name"],
                f"{prefix}service-account.uid": meta["uid"],
                "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
            }
        )

    def sign(self, payload: dict[str, Any]) -> str:
        """A compact RS256 JWS of `payload` (keys sorted, as go-jose marshals its claim map)."""
        key = self.key()
        header = _b64(
            json.dumps({"alg": "RS256", "kid": self._kid}, separators=(",", ":")).encode()
        )
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signing_input = f"{header}.{body}".encode()
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{_b64(signature)}"

    # ---- verify ------------------------------------------------------------------------
    def verify(
        self, token: str, now: float | None = None, audiences: tuple[str, ...] = API_AUDIENCES
    ) -> Claims:
        """The claims of a valid token for `audiences` (this API server's), or TokenError."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signature(token)
            if len(self._verified) > 4096:
                self._verified.clear()
            self._verified[token] = claims
        if not set(claims.audiences) & set(audiences):
            raise TokenError(
                f"token audiences {_go_list(claims.audiences)} is invalid for the target "
                f"audiences {_go_list(audiences)}"
            )
        current = time.time() if now is None else now
        if current > claims.expiry + LEEWAY:
            raise TokenError("service account token has expired")
        return claims

    def _verify_signature(self, token: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("token is not a JWS")
        try:
            header = json.loads(_unb64(parts[0]))
            payload = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise TokenError("unsupported signing algorithm")
        try:
            self.key().public_key().verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise TokenError("invalid signature") from exc
        return _claims(payload)


def _legacy_claims(payload: dict[str, Any]) -> Claims:
    prefix = "kubernetes.io/serviceaccount/"
    try:
        return Claims(
            namespace=str(payload[f"{prefix}namespace"]),
            name=str(payload[f"{prefix}service-account.name"]),
            uid=str(payload[f"{prefix}service-account.uid"]),
            jti="",
            expiry=1 << 62,
            legacy_secret=str(payload[f"{prefix}secret.name"]),
        )
    except KeyError as exc:
        raise TokenError("token has no ServiceAccount claims") from exc


def _claims(payload: Any) -> Claims:
    if isinstance(payload, dict) and payload.get("iss") == LEGACY_ISSUER:
        return _legacy_claims(payload)
    if not isinstance(payload, dict) or payload.get("iss") != ISSUER:
        raise TokenError("token issuer is not this API server's")
    aud = payload.get("aud") or []
    if isinstance(aud, str):
        aud = [aud]
    private = payload.get("kubernetes.io") or {}
    sa = private.get("serviceaccount") or {}
    try:
        bound = tuple(
            (kind, str(private[kind]["name"]), str(private[kind]["uid"]))
            for kind in ("pod", "secret", "node")
            if isinstance(private.get(kind), dict)
        )
        return Claims(
            namespace=str(private["namespace"]),
            name=str(sa["name"]),
            uid=str(sa["uid"]),
            jti=str(payload.get("jti") or ""),
            expiry=int(payload["exp"]),
            bound=bound,
            audiences=tuple(str(a) for a in aud),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("token has no ServiceAccount claims") from exc


def _go_list(values: tuple[str, ...] | list[str]) -> str:
    """Go's %q of a []string: `["a" "b"]`."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


__all__ = [
    "API_AUDIENCES",
    "DEFAULT_EXPIRATION",
    "MAX_EXPIRATION",
    "MIN_EXPIRATION",
    "Claims",
    "TokenError",
    "TokenIssuer",
]
