"""Authentication and RBAC of the fake API server, with the real kubectl v1.32.

Expected texts come from the kube-apiserver v1.32 source, named in each test:
`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go` (forbiddenMessage),
`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go` (NewForbidden, NewUnauthorized),
`plugin/pkg/auth/authorizer/rbac/rbac.go`, `pkg/registry/rbac/validation/rule.go`,
`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`, `pkg/serviceaccount/claims.go`.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labtools.testing.apiserver.tokens import TokenIssuer
from labtools.testing.cluster import FakeCluster
from tests.fake.accounts import AccountKubectl, account, token, write_kubeconfig

pytestmark = pytest.mark.fake

_IDS = itertools.count(1)
UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)"


@pytest.fixture
def lab(apiserver: FakeCluster) -> Iterator[tuple[str, str]]:
    """Two participant namespaces, `lab-N` (with SA student, Role, RoleBinding) and `lab-N+1`."""
    n = next(_IDS)
    mine, neighbour = f"lab{n}-a", f"lab{n}-b"
    for ns in (mine, neighbour):
        apiserver.kubectl("create", "namespace", ns, check=True)
    k = apiserver.kubectl
    k("-n", mine, "create", "serviceaccount", "student", check=True)
    k(
        "-n",
        mine,
        "create",
        "role",
        "lab",
        "--verb=get,list,watch,create,delete",
        "--resource=pods,pods/log,deployments.apps,configmaps",
        check=True,
    )
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "lab",
        "--role=lab",
        f"--serviceaccount={mine}:student",
        check=True,
    )
    yield mine, neighbour
    for ns in (mine, neighbour):
        apiserver.kubectl("delete", "namespace", ns, "--wait=false")


def student(apiserver: FakeCluster, tmp_path: Path, ns: str) -> AccountKubectl:
    return account(apiserver, tmp_path, ns, "student")


# ---- the workshop case (issue 8 item 8) ---------------------------------------------------------
def test_service_account_kubeconfig_works_in_its_namespace_only(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """errors.go forbiddenMessage + errors.NewForbidden: `pods is forbidden: User ... in the
    namespace "..."`, 403, reason Forbidden; the SA's Role works in its own namespace."""
    mine, other = lab
    sa = student(apiserver, tmp_path, mine)
    assert sa("get", "pods").stderr.strip() == f"No resources found in {mine} namespace."
    out = sa.ok("run", "web", "--image=nginx", "--restart=Never")
    assert out.strip() == "pod/web created"
    result = sa("get", "pods", "-n", other)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:{mine}:'
        f'student" cannot list resource "pods" in API group "" in the namespace "{other}"'
    )
    result = sa("get", "pod", "web", "-n", other)
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): pods "web" is forbidden: User "system:serviceaccount:'
        f'{mine}:student" cannot get resource "pods" in API group "" in the namespace "{other}"'
    )
    result = sa("get", "nodes")
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): nodes is forbidden: User "system:serviceaccount:{mine}:'
        'student" cannot list resource "nodes" in API group "" at the cluster scope'
    )
    result = sa("get", "deployments", "-n", other)
    assert result.stderr.strip() == (
        "Error from server (Forbidden): deployments.apps is forbidden: User "
        f'"system:serviceaccount:{mine}:student" cannot list resource "deployments" in API '
        f'group "apps" in the namespace "{other}"'
    )
    # discovery and version work for any authenticated user (system:discovery,
    # system:public-info-viewer bound to system:authenticated)
    assert "Server Version: v1.32.0" in sa.ok("version")
    assert "deployments" in sa.ok("api-resources", "--api-group=apps", "-o", "name")


def test_forbidden_status_body(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """The 403 Status object itself: NewForbidden's details {name, group, kind}."""
    mine, other = lab
    bearer = token(apiserver, mine, "student")
    status, body = _call(apiserver, f"/apis/apps/v1/namespaces/{other}/deployments/web", bearer)
    assert status == 403
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            f'deployments.apps "web" is forbidden: User "system:serviceaccount:{mine}:student" '
            f'cannot get resource "deployments" in API group "apps" in the namespace "{other}"'
        ),
        "reason": "Forbidden",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 403,
    }
    status, body = _call(apiserver, "/metrics", bearer)
    assert (status, body["message"], body["details"]) == (
        403,
        f'forbidden: User "system:serviceaccount:{mine}:student" cannot get path "/metrics"',
        {},
    )


def _call(cluster: FakeCluster, path: str, bearer: str) -> tuple[int, dict[str, object]]:
    url = urlsplit(cluster.server)
    ctx = ssl.create_default_context(cafile=str(cluster.workdir / "certs" / "ca.crt"))
    conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {bearer}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_subresources_and_resource_names(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """rbac.go RuleAllows: `pods/log` is its own resource, resourceNames limit get to one name,
    `*/scale` matches every scale subresource."""
    mine, _ = lab
    k = apiserver.kubectl
    k("-n", mine, "create", "configmap", "open", check=True)
    k("-n", mine, "create", "configmap", "closed", check=True)
    k("-n", mine, "create", "deployment", "web", "--image=nginx", check=True)
    k("-n", mine, "create", "serviceaccount", "narrow", check=True)
    k(
        "-n",
        mine,
        "create",
        "role",
        "narrow",
        "--verb=get",
        "--resource=configmaps",
        "--resource-name=open",
        check=True,
    )
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "narrow",
        "--role=narrow",
        f"--serviceaccount={mine}:narrow",
        check=True,
    )
    narrow = account(apiserver, tmp_path, mine, "narrow")
    user = f"system:serviceaccount:{mine}:narrow"
    assert narrow.ok("get", "configmap", "open", "-o", "name").strip() == "configmap/open"
    assert narrow("get", "configmap", "closed").stderr.strip() == (
        f'Error from server (Forbidden): configmaps "closed" is forbidden: User "{user}" cannot '
        f'get resource "configmaps" in API group "" in the namespace "{mine}"'
    )
    assert narrow("get", "configmaps").stderr.strip() == (
        f'Error from server (Forbidden): configmaps is forbidden: User "{user}" cannot list '
        f'resource "configmaps" in API group "" in the namespace "{mine}"'
    )
    # the lab role has pods/log but not deployments/scale
    sa = student(apiserver, tmp_path, mine)
    result = sa("scale", "deployment", "web", "--replicas=2")
    assert result.returncode == 1
    assert (
        f'deployments.apps "web" is forbidden: User "system:serviceaccount:{mine}:student" '
        f'cannot patch resource "deployments/scale" in API group "apps" in the namespace "{mine}"'
    ) in result.stderr
    scaler = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "scaler", "namespace": mine},
        "rules": [{"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get", "patch"]}],
    }
    k("apply", "-f", "-", stdin=json.dumps(scaler), check=True)
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "scaler",
        "--role=scaler",
        f"--serviceaccount={mine}:student",
        check=True,
    )
    assert sa.ok("scale", "deployment", "web", "--replicas=2").strip() == (
        "deployment.apps/web scaled"
    )


def test_binding_to_a_missing_role_adds_the_rbac_reason(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """rbac.go Authorize: resolution errors become the reason `RBAC: <aggregate>` appended to
    the Forbidden message (responsewriters.Forbidden)."""
    mine, _ = lab
    k = apiserver.kubectl
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "ghost",
        "--role=missing",
        f"--serviceaccount={mine}:student",
        check=True,
    )
    sa = student(apiserver, tmp_path, mine)
    assert sa("get", "secrets").stderr.strip() == (
        f'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:{mine}:'
        f'student" cannot list resource "secrets" in API group "" in the namespace "{mine}": '
        'RBAC: role.rbac.authorization.k8s.io "missing" not found'
    )


# ---- tokens: pkg/serviceaccount/claims.go, jwt.go; storage/token.go -------------------------
def test_token_is_a_jwt_bound_to_the_service_account(
    apiserver: FakeCluster, lab: tuple[str, str]
) -> None:
    mine, _ = lab
    bearer = token(apiserver, mine, "student", "10m")
    head, payload, _sig = (
        json.loads(_unb64(p)) if i < 2 else p for i, p in enumerate(bearer.split("."))
    )
    uid = apiserver.kubectl(
        "-n", mine, "get", "sa", "student", "-o", "jsonpath={.metadata.uid}"
    ).stdout
    assert head["alg"] == "RS256"
    assert head["kid"]
    assert payload["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert payload["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert payload["sub"] == f"system:serviceaccount:{mine}:student"
    assert payload["kubernetes.io"] == {
        "namespace": mine,
        "serviceaccount": {"name": "student", "uid": uid},
    }
    assert payload["exp"] - payload["iat"] == 600
    assert payload["nbf"] == payload["iat"]
    assert payload["jti"]
    assert list(payload) == sorted(payload)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_token_request_validation(apiserver: FakeCluster, lab: tuple[str, str]) -> None:
    """pkg/apis/authentication/validation: at least 10 minutes."""
    mine, _ = lab
    result = apiserver.kubectl("-n", mine, "create", "token", "student", "--duration=1m")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: '
        "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 "
        "minutes"
    )
    result = apiserver.kubectl("-n", mine, "create", "token", "nobody")
    assert result.stderr.strip() == (
        'error: failed to create token: serviceaccounts "nobody" not found'
    )


def test_tokens_that_do_not_authenticate_get_401(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """jwt.go: an expired token, a token that is not ours, and one whose ServiceAccount was
    deleted (or re-created with a new uid) are 401 Unauthorized, never anonymous."""
    mine, _ = lab
    sa = student(apiserver, tmp_path, mine)
    assert sa.ok("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}") == (
        f"system:serviceaccount:{mine}:student"
    )
    issuer = TokenIssuer(apiserver.workdir / "certs" / "sa.key")
    sa_obj = json.loads(apiserver.kubectl("-n", mine, "get", "sa", "student", "-o", "json").stdout)
    expired, _ = issuer.issue(
        sa_obj, 600, ["https://kubernetes.default.svc.cluster.local"], now=int(time.time()) - 700
    )
    forged = TokenIssuer(tmp_path / "other.key").issue(
        sa_obj, 600, ["https://kubernetes.default.svc.cluster.local"]
    )[0]
    for bearer in (expired, forged, "garbage"):
        path = write_kubeconfig(apiserver, tmp_path / "bad.kubeconfig", bearer, mine)
        result = AccountKubectl(apiserver, path, mine)("get", "pods")
        assert (result.returncode, result.stderr.strip()) == (1, UNAUTHORIZED)
    apiserver.kubectl("-n", mine, "delete", "sa", "student", check=True)
    assert sa("get", "pods").stderr.strip() == UNAUTHORIZED
    apiserver.kubectl("-n", mine, "create", "sa", "student", check=True)
    assert sa("get", "pods").stderr.strip() == UNAUTHORIZED


# ---- whoami / can-i: SelfSubjectReview, SelfSubjectAccessReview, SelfSubjectRulesReview -------
def test_whoami(apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path) -> None:
    """authentication/group/authenticated_group_adder.go; serviceaccount/util.go group names."""
    mine, _ = lab
    sa = student(apiserver, tmp_path, mine)
    review = json.loads(sa.ok("auth", "whoami", "-o", "json"))
    info = review["status"]["userInfo"]
    assert review["kind"] == "SelfSubjectReview"
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert info["username"] == f"system:serviceaccount:{mine}:student"
    assert info["groups"] == [
        "system:serviceaccounts",
        f"system:serviceaccounts:{mine}",
        "system:authenticated",
    ]
    assert (
        info["uid"]
        == apiserver.kubectl(
            "-n", mine, "get", "sa", "student", "-o", "jsonpath={.metadata.uid}"
        ).stdout
    )
    assert list(info["extra"]) == ["authentication.kubernetes.io/credential-id"]
    assert info["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    admin = apiserver.kubectl("auth", "whoami").stdout.splitlines()
    assert admin[0].split() == ["ATTRIBUTE", "VALUE"]
    assert admin[1].split() == ["Username", "minikube-user"]
    assert admin[2].split() == ["Groups", "[system:masters", "system:authenticated]"]
    assert admin[3].startswith("Extra: authentication.kubernetes.io/credential-id   [X509SHA256=")


def test_can_i_as_the_service_account(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """kubectl auth can-i prints yes (exit 0) / no (exit 1) from the SelfSubjectAccessReview the
    real authorizer answers; --list prints the SelfSubjectRulesReview's rules."""
    mine, other = lab
    sa = student(apiserver, tmp_path, mine)
    cases = [
        (("create", "pods"), "yes", 0),
        (("delete", "deployments.apps"), "yes", 0),
        (("update", "pods"), "no", 1),
        (("get", "pods", "--subresource=log"), "yes", 0),
        (("get", "pods", "--subresource=exec"), "no", 1),
        (("list", "pods", "-n", other), "no", 1),
        (("list", "pods", "-A"), "no", 1),
        (("get", "/healthz"), "yes", 0),
        (("get", "/metrics"), "no", 1),
        (("create", "selfsubjectaccessreviews.authorization.k8s.io"), "yes", 0),
    ]
    for args, answer, code in cases:
        result = sa("auth", "can-i", *args)
        assert (result.stdout.strip(), result.returncode) == (answer, code), args
    rows = [line.split() for line in sa.ok("auth", "can-i", "--list").splitlines()]
    assert rows[0] == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["pods", "[]", "[]", "[get", "list", "watch", "create", "delete]"] in rows
    assert ["pods/log", "[]", "[]", "[get", "list", "watch", "create", "delete]"] in rows
    assert ["deployments.apps", "[]", "[]", "[get", "list", "watch", "create", "delete]"] in rows
    assert ["selfsubjectreviews.authentication.k8s.io", "[]", "[]", "[create]"] in rows
    assert ["[/version]", "[]", "[get]"] in rows
    neighbour = [
        line.split() for line in sa.ok("auth", "can-i", "--list", "-n", other).splitlines()
    ]
    assert not any(r[0] == "pods" for r in neighbour)
    admin = apiserver.kubectl("auth", "can-i", "delete", "nodes")
    assert (admin.stdout.strip(), admin.returncode) == ("yes", 0)


# ---- bootstrap policy and aggregation ---------------------------------------------------------
def test_bootstrap_roles_and_bindings(apiserver: FakeCluster) -> None:
    """policy.go: the user-facing roles, their aggregation, and the bindings every
    authenticated user has."""
    k = apiserver.kubectl
    names = k("get", "clusterroles", "-o", "name").stdout.split()
    for name in (
        "admin",
        "edit",
        "view",
        "cluster-admin",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:controller:replicaset-controller",
    ):
        assert f"clusterrole.rbac.authorization.k8s.io/{name}" in names
    view = json.loads(k("get", "clusterrole", "view", "-o", "json").stdout)
    assert view["aggregationRule"] == {
        "clusterRoleSelectors": [
            {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}
        ]
    }
    assert view["metadata"]["labels"] == {
        "kubernetes.io/bootstrapping": "rbac-defaults",
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
    }
    agg_view = json.loads(k("get", "clusterrole", "system:aggregate-to-view", "-o", "json").stdout)
    assert view["rules"] == agg_view["rules"]
    edit = json.loads(k("get", "clusterrole", "edit", "-o", "json").stdout)
    agg_edit = json.loads(k("get", "clusterrole", "system:aggregate-to-edit", "-o", "json").stdout)
    assert edit["rules"] == agg_edit["rules"] + [
        r for r in view["rules"] if r not in agg_edit["rules"]
    ]
    admin = json.loads(k("get", "clusterrole", "admin", "-o", "json").stdout)
    assert {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["rolebindings", "roles"],
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
    } in admin["rules"]
    discovery = json.loads(k("get", "clusterrolebinding", "system:discovery", "-o", "json").stdout)
    assert discovery["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}
    ]
    public = json.loads(
        k("get", "clusterrolebinding", "system:public-info-viewer", "-o", "json").stdout
    )
    assert [s["name"] for s in public["subjects"]] == [
        "system:authenticated",
        "system:unauthenticated",
    ]


def test_aggregation_controller_follows_labels(apiserver: FakeCluster, tmp_path: Path) -> None:
    """clusterroleaggregation_controller.go: a ClusterRole labelled aggregate-to-view adds its
    rules to view, and so to edit and admin; removing the label takes them away."""
    k = apiserver.kubectl
    name = f"crontabs-reader-{next(_IDS)}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["stable.example.com"],
                "resources": ["crontabs"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }
    k("apply", "-f", "-", stdin=json.dumps(role), check=True)
    k("label", "clusterrole", name, "rbac.authorization.k8s.io/aggregate-to-view=true", check=True)
    rule = {
        "apiGroups": ["stable.example.com"],
        "resources": ["crontabs"],
        "verbs": ["get", "list", "watch"],
    }

    def rules(role: str) -> list[object]:
        return json.loads(k("get", "clusterrole", role, "-o", "json").stdout)["rules"]  # type: ignore[no-any-return]

    deadline = time.monotonic() + 10
    while rule not in rules("admin") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rule in rules("view")
    assert rule in rules("edit")
    assert rule in rules("admin")
    k("label", "clusterrole", name, "rbac.authorization.k8s.io/aggregate-to-view-", check=True)
    deadline = time.monotonic() + 10
    while rule in rules("admin") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rule not in rules("view")
    assert rule not in rules("admin")
    k("delete", "clusterrole", name, check=True)


# ---- escalation: pkg/registry/rbac/{role,rolebinding}/policybased/storage.go ------------
def test_cannot_grant_what_you_do_not_hold(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    mine, _ = lab
    k = apiserver.kubectl
    k("-n", mine, "create", "serviceaccount", "lead", check=True)
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "lead-admin",
        "--clusterrole=admin",
        f"--serviceaccount={mine}:lead",
        check=True,
    )
    lead = account(apiserver, tmp_path, mine, "lead")
    user = f"system:serviceaccount:{mine}:lead"
    groups = f'["system:serviceaccounts" "system:serviceaccounts:{mine}" "system:authenticated"]'
    assert lead.ok("create", "role", "reader", "--verb=get,list", "--resource=pods").strip() == (
        "role.rbac.authorization.k8s.io/reader created"
    )
    result = lead("create", "role", "nodes", "--verb=get,list", "--resource=nodes,pods")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        f'roles.rbac.authorization.k8s.io "nodes" is forbidden: user "{user}" (groups={groups}) '
        "is attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}'
    )
    k("-n", mine, "create", "role", "secrets-all", "--verb=*", "--resource=secrets", check=True)
    result = lead(
        "create", "rolebinding", "sneaky", "--role=secrets-all", f"--serviceaccount={mine}:lead"
    )
    assert result.stderr.strip().endswith(
        f'rolebindings.rbac.authorization.k8s.io "sneaky" is forbidden: user "{user}" '
        f"(groups={groups}) is attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}'
    )
    # escalation_check.go: `bind` on that role (or `escalate` on roles) lifts the check
    k(
        "-n",
        mine,
        "create",
        "role",
        "binder",
        "--verb=bind",
        "--resource=roles",
        "--resource-name=secrets-all",
        check=True,
    )
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "binder",
        "--role=binder",
        f"--serviceaccount={mine}:lead",
        check=True,
    )
    assert lead.ok(
        "create", "rolebinding", "sneaky", "--role=secrets-all", f"--serviceaccount={mine}:lead"
    ).strip() == ("rolebinding.rbac.authorization.k8s.io/sneaky created")
    k("-n", mine, "create", "role", "escalator", "--verb=escalate", "--resource=roles", check=True)
    k(
        "-n",
        mine,
        "create",
        "rolebinding",
        "escalator",
        "--role=escalator",
        f"--serviceaccount={mine}:lead",
        check=True,
    )
    assert lead.ok("create", "role", "nodes", "--verb=get,list", "--resource=nodes").strip() == (
        "role.rbac.authorization.k8s.io/nodes created"
    )


# ---- impersonation: staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go -------
def test_impersonation(apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path) -> None:
    mine, other = lab
    k = apiserver.kubectl
    result = k("-n", other, "get", "pods", f"--as=system:serviceaccount:{mine}:student")
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:{mine}:'
        f'student" cannot list resource "pods" in API group "" in the namespace "{other}"'
    )
    result = k(
        "-n", mine, "auth", "can-i", "create", "pods", f"--as=system:serviceaccount:{mine}:student"
    )
    assert (result.stdout.strip(), result.returncode) == ("yes", 0)
    who = json.loads(k("auth", "whoami", "--as=jane", "--as-group=devs", "-o", "json").stdout)
    assert who["status"]["userInfo"] == {
        "username": "jane",
        "groups": ["devs", "system:authenticated"],
    }
    result = k("get", "pods", "--as=jane")
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    )
    sa = student(apiserver, tmp_path, mine)
    result = sa("get", "pods", "--as=bob")
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): users "bob" is forbidden: User "system:serviceaccount:'
        f'{mine}:student" cannot impersonate resource "users" in API group "" at the cluster scope'
    )
    result = sa("get", "pods", f"--as=system:serviceaccount:{other}:default")
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): serviceaccounts "default" is forbidden: User '
        f'"system:serviceaccount:{mine}:student" cannot impersonate resource "serviceaccounts" '
        f'in API group "" in the namespace "{other}"'
    )


def test_subject_access_review(apiserver: FakeCluster, lab: tuple[str, str]) -> None:
    """subjectaccessreview/rest.go: the status of the authorizer for another user."""
    mine, other = lab
    user = f"system:serviceaccount:{mine}:student"
    sar = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "resourceAttributes": {"namespace": mine, "verb": "list", "resource": "pods"},
        },
    }
    out = json.loads(
        apiserver.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(sar)).stdout
    )
    assert out["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "lab/{mine}" of Role "lab" to '
        f'ServiceAccount "student/{mine}"',
    }
    sar["spec"]["resourceAttributes"]["namespace"] = other  # type: ignore[index]
    out = json.loads(
        apiserver.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(sar)).stdout
    )
    assert out["status"] == {"allowed": False}


def test_token_bound_to_a_pod_dies_with_it(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """storage/token.go boundObjectRef + jwt.go: a pod-bound token names the pod and its node
    (extras pod-name, pod-uid, node-name, node-uid) and stops working when the pod is gone."""
    mine, _ = lab
    k = apiserver.kubectl
    result = k(
        "-n",
        mine,
        "create",
        "token",
        "student",
        "--bound-object-kind=Pod",
        "--bound-object-name=nope",
    )
    assert result.stderr.strip() == 'error: failed to create token: pods "nope" not found'
    k(
        "-n",
        mine,
        "run",
        "holder",
        "--image=nginx",
        "--restart=Never",
        "--overrides",
        '{"spec":{"serviceAccountName":"student"}}',
        check=True,
    )
    k("-n", mine, "run", "other", "--image=nginx", "--restart=Never", check=True)
    result = k(
        "-n",
        mine,
        "create",
        "token",
        "student",
        "--bound-object-kind=Pod",
        "--bound-object-name=other",
    )
    assert result.stderr.strip() == (
        'error: failed to create token: cannot bind token for serviceaccount "student" to pod '
        'running with serviceaccount "default"'
    )
    deadline = time.monotonic() + 10
    while (
        not k("-n", mine, "get", "pod", "holder", "-o", "jsonpath={.spec.nodeName}").stdout
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    bearer = k(
        "-n",
        mine,
        "create",
        "token",
        "student",
        "--bound-object-kind=Pod",
        "--bound-object-name=holder",
    ).stdout.strip()
    payload = json.loads(_unb64(bearer.split(".")[1]))
    pod_uid = k("-n", mine, "get", "pod", "holder", "-o", "jsonpath={.metadata.uid}").stdout
    assert payload["kubernetes.io"]["pod"] == {"name": "holder", "uid": pod_uid}
    assert payload["kubernetes.io"]["node"]["name"] == "minikube"
    sa = AccountKubectl(
        apiserver, write_kubeconfig(apiserver, tmp_path / "pod.kubeconfig", bearer, mine), mine
    )
    extra = json.loads(sa.ok("auth", "whoami", "-o", "json"))["status"]["userInfo"]["extra"]
    assert sorted(extra) == [
        "authentication.kubernetes.io/credential-id",
        "authentication.kubernetes.io/node-name",
        "authentication.kubernetes.io/node-uid",
        "authentication.kubernetes.io/pod-name",
        "authentication.kubernetes.io/pod-uid",
    ]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod_uid]
    k("-n", mine, "delete", "pod", "holder", "--grace-period=0", "--force", check=True)
    assert sa("get", "pods").stderr.strip() == UNAUTHORIZED


def test_token_review_checks_the_audience(apiserver: FakeCluster, lab: tuple[str, str]) -> None:
    """tokenreview: a token for another audience authenticates only for that audience."""
    mine, _ = lab
    vault = apiserver.kubectl(
        "-n", mine, "create", "token", "student", "--audience=vault"
    ).stdout.strip()

    def review(audiences: list[str] | None) -> dict[str, object]:
        spec: dict[str, object] = {"token": vault}
        if audiences:
            spec["audiences"] = audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        out = apiserver.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(body)).stdout
        return json.loads(out)["status"]  # type: ignore[no-any-return]

    assert review(None)["error"] == (
        '[invalid bearer token, token audiences ["vault"] is invalid for the target audiences '
        '["https://kubernetes.default.svc.cluster.local"]]'
    )
    ok = review(["vault"])
    assert ok["authenticated"] is True
    assert ok["audiences"] == ["vault"]
    assert ok["user"]["username"] == f"system:serviceaccount:{mine}:student"  # type: ignore[index]


def test_service_account_token_secret_gets_a_long_lived_token(
    apiserver: FakeCluster, lab: tuple[str, str], tmp_path: Path
) -> None:
    """tokens_controller.go + legacy.go: a manually created service-account-token Secret is
    filled with a token (no exp, iss kubernetes/serviceaccount), ca.crt and namespace; the token
    works while the Secret holds it; a Secret naming a missing ServiceAccount is deleted."""
    mine, _ = lab
    k = apiserver.kubectl
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "student-token",
            "annotations": {"kubernetes.io/service-account.name": "student"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    k("-n", mine, "apply", "-f", "-", stdin=json.dumps(secret), check=True)
    deadline = time.monotonic() + 10
    jsonpath = "jsonpath={.data.token}"
    while not k("-n", mine, "get", "secret", "student-token", "-o", jsonpath).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stored = json.loads(k("-n", mine, "get", "secret", "student-token", "-o", "json").stdout)
    uid = k("-n", mine, "get", "sa", "student", "-o", "jsonpath={.metadata.uid}").stdout
    assert sorted(stored["data"]) == ["ca.crt", "namespace", "token"]
    assert base64.b64decode(stored["data"]["namespace"]).decode() == mine
    assert stored["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == uid
    bearer = base64.b64decode(stored["data"]["token"]).decode()
    payload = json.loads(_unb64(bearer.split(".")[1]))
    assert payload == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": mine,
        "kubernetes.io/serviceaccount/secret.name": "student-token",
        "kubernetes.io/serviceaccount/service-account.name": "student",
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "sub": f"system:serviceaccount:{mine}:student",
    }
    sa = AccountKubectl(
        apiserver, write_kubeconfig(apiserver, tmp_path / "legacy", bearer, mine), mine
    )
    assert sa.ok("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}") == (
        f"system:serviceaccount:{mine}:student"
    )
    labels = json.loads(k("-n", mine, "get", "secret", "student-token", "-o", "json").stdout)[
        "metadata"
    ]["labels"]
    assert list(labels) == ["kubernetes.io/legacy-token-last-used"]
    k("-n", mine, "delete", "secret", "student-token", check=True)
    assert sa("get", "pods").stderr.strip() == UNAUTHORIZED
    orphan = dict(
        secret,
        metadata={"name": "orphan", "annotations": {"kubernetes.io/service-account.name": "ghost"}},
    )
    k("-n", mine, "apply", "-f", "-", stdin=json.dumps(orphan), check=True)
    deadline = time.monotonic() + 10
    while k("-n", mine, "get", "secret", "orphan").returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
