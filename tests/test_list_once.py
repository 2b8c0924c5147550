"""What the API server receives from a no-change diff of an App of Apps, counted by the loopback proxy
in front of it (never by our own logs): no dry-run and no write, and one LIST (with its pages) per kind
and namespace in play, however many apps share them."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import Cluster
from diff_helpers import Repo, application, configmap, deployment, statuses, sync
from proxy_helpers import Proxied

CHILDREN = 6  # apps sharing the two namespaces and the kinds below
KINDS_IN_PLAY = {"configmaps", "serviceaccounts", "deployments", "networkpolicies"}


def _objects(name: str) -> str:
    return "---\n".join((
        configmap("", name, {"owner": name}),
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n",
        deployment("", name, replicas=0),
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}}}\n"
        f"spec:\n  podSelector: {{matchLabels: {{app: {name}}}}}\n  policyTypes: [Ingress]\n"))


@pytest.fixture
def two_namespaces(cluster: Cluster) -> Iterator[tuple[str, str]]:
    names = (f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}")
    for ns in names:
        cluster.kubectl("create", "namespace", ns)
    yield names
    cluster.kubectl("delete", "namespace", *names, "--wait=false", check=False)


def _app_of_apps(root: Path, namespaces: tuple[str, str]) -> Repo:
    """root → apps/children: CHILDREN apps, alternately in either namespace, each with one object per kind."""
    repo = Repo(root)
    repo.write("apps/root.yaml", application("root", "apps/children", namespaces[0]))
    for i in range(CHILDREN):
        repo.write(f"apps/children/c{i}.yaml", application(f"c{i}", f"services/c{i}", namespaces[i % 2]))
        repo.write(f"services/c{i}/objects.yaml", _objects(f"c{i}"))
    repo.commit("app of apps")
    return repo


def _resource_path(path: str) -> list[str]:
    """The segments after /api/v1 or /apis/GROUP/VERSION; [] for discovery itself."""
    parts = urlsplit(path).path.strip("/").split("/")
    if parts[0] == "api":
        return parts[2:]
    return parts[3:] if parts[0] == "apis" else []


def lists_of(paths: list[str]) -> Counter[tuple[str, str]]:
    """(resource, namespace or "" cluster-wide) -> how many LISTs were started (first pages only: a
    page with a continue token is part of the LIST before it)."""
    out: Counter[tuple[str, str]] = Counter()
    for path in paths:
        if "continue" in parse_qs(urlsplit(path).query):
            continue
        segs = _resource_path(path)
        if len(segs) == 3 and segs[0] == "namespaces":
            out[(segs[2], segs[1])] += 1
        elif len(segs) == 1:
            out[(segs[0], "")] += 1
    return out


def test_lists_of_a_listed_path() -> None:
    assert lists_of(["/api/v1/namespaces/a/configmaps?limit=500",
                     "/api/v1/namespaces/a/configmaps?limit=500&continue=x", "/apis/apps/v1/deployments?limit=500",
                     "/api/v1/namespaces/a/configmaps/one", "/api/v1/namespaces/a", "/api", "/apis"]
                    ) == Counter({("configmaps", "a"): 1, ("deployments", ""): 1})


def test_a_no_change_diff_of_an_app_of_apps_lists_each_kind_once(proxied: Proxied, two_namespaces: tuple[str, str],
                                                               tmp_path: Path) -> None:
    repo = _app_of_apps(tmp_path / "config", two_namespaces)
    code, _, err = sync(repo.root, "apps/root.yaml")
    assert code == 0, err

    res = proxied.cli("kubectl-gitops-diff", "apps/root.yaml", cwd=repo.root)
    assert res.returncode == 0, res.stderr + res.stdout
    shown = statuses(res.stdout)
    assert len(shown) == CHILDREN * len(KINDS_IN_PLAY) and set(shown.values()) == {"Synced"}

    received = proxied.proxy.requests()
    assert [s for s in received if s.method != "GET"] == []  # no dry-run, no write: GETs only
    lists = lists_of([s.path for s in received if s.method == "GET"])
    assert {k: n for k, n in lists.items() if n > 1} == {}  # nothing listed twice
    for resource in {r for r, _ in lists}:
        scopes = {ns for r, ns in lists if r == resource}
        assert "" not in scopes or scopes == {""}, (resource, scopes)  # a cluster-wide LIST covers every namespace
    for resource in KINDS_IN_PLAY:
        assert {ns for r, ns in lists if r == resource} in ({""}, set(two_namespaces)), (resource, lists)
    # Nor one object at a time: no GET of a single object of the apps.
    singles = [segs for segs in map(_resource_path, (s.path for s in received))
               if len(segs) == 4 and segs[1] in two_namespaces and segs[2] in KINDS_IN_PLAY]
    assert singles == []
