"""Unit tests of destination resolution (destinations.py, pure): which kubeconfig context or cluster
Secret each spec.destination reaches, and the one error for everything else."""

from __future__ import annotations

import base64
import json
import re

import pytest

from kubectl_gitops.destinations import (
    ClusterSecret,
    Inventory,
    Target,
    duplicate_names,
    normalize_server,
    parse_cluster_flags,
    parse_cluster_secret,
    parse_clusters_file,
    resolve,
)
from kubectl_gitops.errors import GitopsError

INV = Inventory(
    where="/home/me/.kube/config", current="mgmt",
    contexts={"mgmt": "mgmt-cluster", "mgmt-ro": "mgmt-cluster", "staging": "staging-cluster",
              "prod-a": "prod", "prod-b": "prod"},
    clusters={"mgmt-cluster": "https://10.0.0.1:6443", "staging-cluster": "https://Staging.example:443/",
              "prod": "https://prod.example:6443"})


def test_in_cluster_names_are_the_current_context() -> None:
    for server, name in [("https://kubernetes.default.svc", ""), ("https://kubernetes.default.svc/", ""),
                         ("", "in-cluster"), ("", "")]:
        assert resolve("web", server, name, INV) == Target(label="mgmt", context="mgmt")


def test_server_matches_normalised_url_through_its_context() -> None:
    assert resolve("web", "https://staging.example", "", INV).context == "staging"
    assert resolve("web", "HTTPS://STAGING.EXAMPLE:443", "", INV).context == "staging"
    # Two contexts use the current context's cluster: the current one is taken, no choice needed.
    assert resolve("web", "https://10.0.0.1:6443/", "", INV).context == "mgmt"
    # Elsewhere, the context named like the cluster is the one.
    inv = Inventory(**{**INV.__dict__, "contexts": {**INV.contexts, "prod": "prod"}})
    assert resolve("web", "https://prod.example:6443", "", inv).context == "prod"
    assert resolve("web", "", "prod", inv).context == "prod"


def test_name_is_a_context_else_a_cluster() -> None:
    assert resolve("web", "", "staging", INV).context == "staging"
    assert resolve("web", "", "staging-cluster", INV).context == "staging"


def test_two_candidates_are_an_error_naming_them() -> None:
    with pytest.raises(GitopsError) as e:
        resolve("web", "https://prod.example:6443", "", INV)
    assert e.value.message == ("app web: destination.server 'https://prod.example:6443': 2 candidates: "
                               "context prod-a, context prod-b")
    assert "--cluster https://prod.example:6443=CONTEXT" in (e.value.hint or "")
    with pytest.raises(GitopsError, match=re.escape("app web: destination.name 'prod': 2 candidates")):
        resolve("web", "", "prod", INV)


def test_explicit_map_wins_and_must_name_a_context() -> None:
    inv = Inventory(**{**INV.__dict__, "explicit": {"https://prod.example:6443/": "prod-b", "edge": "prod-a"}})
    assert resolve("web", "https://prod.example:6443", "", inv).context == "prod-b"
    assert resolve("web", "", "edge", inv).context == "prod-a"
    bad = Inventory(**{**INV.__dict__, "explicit": {"edge": "nope"}})
    with pytest.raises(GitopsError, match=re.escape("destination.name 'edge': --cluster maps it to context 'nope'")):
        resolve("web", "", "edge", bad)


def test_unknown_and_both_fields_are_errors_naming_what_was_looked_at() -> None:
    with pytest.raises(GitopsError) as e:
        resolve("web", "https://nowhere:6443", "", INV)
    msg = str(e.value)
    assert msg.startswith("app web: destination.server 'https://nowhere:6443': no such cluster (looked at "
                          "kubeconfig /home/me/.kube/config: contexts mgmt, mgmt-ro, staging, prod-a, prod-b")
    assert "no cluster Secrets (--cluster-secrets reads them)" in msg
    with pytest.raises(GitopsError, match=re.escape("app web: destination has both server 'https://x' and name 'y'")):
        resolve("web", "https://x", "y", INV)


def _secret(name: str, server: str, config: dict | None = None, **extra: str) -> dict:
    data = {"name": name, "server": server, "config": json.dumps(config or {"bearerToken": "s3cr3t"}), **extra}
    return {"metadata": {"name": f"cluster-{name}"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_cluster_secrets_resolve_by_server_and_name_after_the_kubeconfig() -> None:
    s = parse_cluster_secret(_secret("edge", "https://edge.example:6443/"), "ns argocd")
    assert (s.name, s.server, s.secret) == ("edge", "https://edge.example:6443", "cluster-edge")
    assert "s3cr3t" not in repr(s)  # credentials never in a repr (logs, tracebacks)
    inv = Inventory(**{**INV.__dict__, "secrets": (s,), "secrets_read": "namespace argocd"})
    assert resolve("web", "https://edge.example:6443", "", inv).secret == s
    assert resolve("web", "", "edge", inv).label == "edge"
    with pytest.raises(GitopsError, match=re.escape("cluster Secrets in namespace argocd: edge")):
        resolve("web", "", "other", inv)


def test_cluster_secret_project_must_match() -> None:
    s = parse_cluster_secret(_secret("edge", "https://edge.example", project="team-a"), "ns argocd")
    inv = Inventory(**{**INV.__dict__, "secrets": (s,), "secrets_read": "ns"})
    assert resolve("web", "", "edge", inv, project="team-a").secret == s
    with pytest.raises(GitopsError, match=re.escape("is for project 'team-a', and the app is in project 'default'")):
        resolve("web", "", "edge", inv)


@pytest.mark.parametrize(("secret", "message"), [
    (_secret("e", "https://e", namespaces="a,b"), "namespaces is not supported by kubectl-gitops yet"),
    (_secret("e", "https://e", {"awsAuthConfig": {"clusterName": "x"}}), "config: not supported by kubectl-gitops "
     "yet: 'awsAuthConfig'"),
    (_secret("e", "https://e", {"bearerTokn": "x"}), "config: unknown 'bearerTokn'"),
    (_secret("e", "https://e", colour="x"), "unknown key 'colour'"),
    ({"metadata": {"name": "x"}, "data": {"name": "%%%"}}, "data.name: not base64 text"),
    ({"metadata": {"name": "x"}, "data": {"server": base64.b64encode(b"https://e").decode(),
                                          "config": base64.b64encode(b"{token: s3cr3t").decode()}},
     "config is not JSON"),
])
def test_bad_cluster_secrets_are_refused_by_name(secret: dict, message: str) -> None:
    with pytest.raises(GitopsError) as e:
        parse_cluster_secret(secret, "ns argocd")
    assert message in str(e.value)
    assert "s3cr3t" not in str(e.value)


def test_two_secrets_with_one_name() -> None:
    a, b = ClusterSecret("s1", "edge", "https://a"), ClusterSecret("s2", "edge", "https://b")
    with pytest.raises(GitopsError, match=re.escape("cluster Secrets s1 and s2 both name cluster 'edge'")):
        duplicate_names([a, b], "ns argocd")


def test_flags_and_file() -> None:
    assert parse_cluster_flags(["edge=prod-a", "https://x:6443=staging"]) == {
        "edge": "prod-a", "https://x:6443": "staging"}
    with pytest.raises(GitopsError, match=re.escape("'edge' is not NAME_OR_SERVER=CONTEXT")):
        parse_cluster_flags(["edge"])
    assert parse_clusters_file({"clusters": {"edge": "prod-a"}}, "f.yaml") == {"edge": "prod-a"}
    with pytest.raises(GitopsError, match=re.escape("f.yaml: expected one key, `clusters`")):
        parse_clusters_file({"edge": "prod-a"}, "f.yaml")
    with pytest.raises(GitopsError, match=re.escape("f.yaml: clusters.edge: the context must be a non-empty string")):
        parse_clusters_file({"clusters": {"edge": 5}}, "f.yaml")


def test_normalize_server() -> None:
    assert normalize_server("HTTPS://Example:443/") == "https://example"
    assert normalize_server("example:6443") == "https://example:6443"
    assert normalize_server("http://example:80/api/") == "http://example/api"
    assert normalize_server("https://[::1]:6443") == "https://[::1]:6443"
