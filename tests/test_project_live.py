"""AppProjects and sync windows against the real control plane: what a project refuses is never
written, what it does not permit is never pruned, and a sync window stops a sync before any write."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from gitrepo import make_repo, write_files


def cm(name: str, ns: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{a: '1'}}\n"


def secret(name: str, ns: str) -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{k: v}}\n"


def application(name: str, repo: Path, ns: str, project: str) -> str:
    return f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {name}, namespace: argocd}}
spec:
  project: {project}
  source: {{repoURL: "file://{repo}", path: app, targetRevision: HEAD}}
  destination: {{server: "https://kubernetes.default.svc", namespace: {ns}}}
"""


def app_project(name: str, spec: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {name}, namespace: argocd}}\n"
            f"spec:\n{spec}")


OPEN = """  sourceRepos: ["*"]
  destinations: [{server: "*", namespace: "*"}]
  clusterResourceWhitelist: [{group: "*", kind: "*"}]
"""


def setup(tmp_path: Path, ns: str, manifests: dict[str, str], project_spec: str) -> Path:
    """A repo whose apps/app.yaml holds the Application and its AppProject; returns that file."""
    repo = tmp_path / "repo"
    name = f"proj-{uuid.uuid4().hex[:6]}"
    make_repo(repo, {**{f"app/{k}": v for k, v in manifests.items()},
                     "apps/app.yaml": application(name, repo, ns, name) + "---\n" + app_project(name, project_spec)})
    return repo / "apps" / "app.yaml"


def cli(*args: str) -> tuple[int, str, str]:
    res = run_cli("kubectl-gitops", *args)
    return res.returncode, res.stdout, res.stderr


def exists(cluster: Cluster, *what: str) -> bool:
    return cluster.kubectl("get", *what, check=False).returncode == 0


def refusal_cases(ns: str, other: str) -> list[tuple[str, dict[str, str], str, str]]:
    """(case, manifests, project spec, message)"""
    return [
        ("namespace", {"a.yaml": cm("a", ns), "b.yaml": cm("b", other)},
         f'  sourceRepos: ["*"]\n  destinations: [{{server: "*", namespace: {ns}}}]\n',
         f"namespace {other} is not permitted in project"),
        ("repo", {"a.yaml": cm("a", ns)},
         '  sourceRepos: ["https://git.example.com/*"]\n  destinations: [{server: "*", namespace: "*"}]\n',
         "is not permitted in project"),
        ("cluster-scoped kind", {"a.yaml": cm("a", ns), "ns.yaml": f"apiVersion: v1\nkind: Namespace\n"
                                 f"metadata: {{name: {other}}}\n"},
         '  sourceRepos: ["*"]\n  destinations: [{server: "*", namespace: "*"}]\n',
         "resource :Namespace is not permitted in project"),
        ("namespaced kind", {"a.yaml": cm("a", ns), "s.yaml": secret("s", ns)},
         OPEN + '  namespaceResourceBlacklist: [{group: "", kind: Secret}]\n',
         "resource :Secret is not permitted in project"),
    ]


@pytest.mark.parametrize("case", ["namespace", "repo", "cluster-scoped kind", "namespaced kind"])
def test_a_refused_app_or_object_is_unknown_and_nothing_is_written(cluster: Cluster, namespace: str,
                                                                   tmp_path: Path, case: str) -> None:
    other = f"other-{uuid.uuid4().hex[:6]}"
    manifests, spec, message = next((m, s, msg) for c, m, s, msg in refusal_cases(namespace, other) if c == case)
    target = setup(tmp_path, namespace, manifests, spec)
    code, out, err = cli("diff", str(target), "-o", "json")
    assert code == 1, err
    app = json.loads(out)["apps"][0]
    unknown = [r for r in app["resources"] if r["status"] == "Unknown"]
    assert unknown and all(message in (r["message"] or "") for r in unknown)
    if case == "repo":
        assert app["sync"] == "Unknown" and "application repo file://" in app["conditions"][0]
    code, out, err = cli("sync", str(target))
    assert code == 2 and "nothing was written" in err and message in err, err
    assert not exists(cluster, "-n", namespace, "configmap/a")
    assert not exists(cluster, "namespace", other)
    code, out, _ = cli("status", str(target))
    assert code == 1 and message in out


def test_a_live_object_the_project_does_not_permit_is_never_pruned(cluster: Cluster, namespace: str,
                                                                    tmp_path: Path) -> None:
    target = setup(tmp_path, namespace, {"a.yaml": cm("a", namespace), "s.yaml": secret("s", namespace)}, OPEN)
    code, _, err = cli("sync", str(target))
    assert code == 0, err
    assert exists(cluster, "-n", namespace, "secret/s")
    # Git drops the Secret and the project stops permitting Secrets: the live one is left alone.
    repo = target.parent.parent
    (repo / "app" / "s.yaml").unlink()
    text = target.read_text() + '  namespaceResourceBlacklist: [{group: "", kind: Secret}]\n'
    write_files(repo, {"apps/app.yaml": text})
    code, out, err = cli("sync", str(target), "--prune", "-o", "json")
    assert code == 0, err
    assert [r["kind"] for r in json.loads(out)["results"]] == ["ConfigMap"]
    assert exists(cluster, "-n", namespace, "secret/s")


def windows_dir(tmp_path: Path, name: str, window: str) -> Path:
    d = tmp_path / "projects"
    write_files(d, {"project.yaml": app_project(name, OPEN + f"  syncWindows:\n    - {window}\n")})
    return d


def app_with_projects_dir(tmp_path: Path, ns: str, window: str) -> tuple[Path, Path, str]:
    repo = tmp_path / "repo"
    name = f"win-{uuid.uuid4().hex[:6]}"
    make_repo(repo, {"app/a.yaml": cm("a", ns), "apps/app.yaml": application(name, repo, ns, name)})
    return repo / "apps" / "app.yaml", windows_dir(tmp_path, name, window), name


def test_an_active_deny_window_blocks_and_manual_sync_lets_it_through(cluster: Cluster, namespace: str,
                                                                      tmp_path: Path) -> None:
    deny = '{kind: deny, schedule: "* * * * *", duration: 1h, applications: ["*"], description: freeze}'
    target, projects, name = app_with_projects_dir(tmp_path, namespace, deny)
    code, _, err = cli("sync", str(target), "--projects", str(projects))
    assert code == 2 and "nothing was written" in err, err
    assert 'sync window: blocked by deny window "* * * * *" for 1h of project win-' in err
    assert "[freeze] (manualSync not set) (it does not close" in err
    assert not exists(cluster, "-n", namespace, "configmap/a")
    code, out, _ = cli("status", str(target), "--projects", str(projects))
    assert code == 1 and "sync blocked by deny window" in out
    code, out, _ = cli("windows", str(target), "--projects", str(projects), "-o", "json")
    assert code == 1, out
    [row] = json.loads(out)["windows"]
    assert row["kind"] == "deny" and row["status"] == "Active" and row["sync"] == "blocked"
    projects = windows_dir(tmp_path, name, deny.replace("description: freeze", "manualSync: true"))
    code, _, err = cli("sync", str(target), "--projects", str(projects))
    assert code == 0, err
    assert exists(cluster, "-n", namespace, "configmap/a")


def test_an_allow_window_that_is_not_open_blocks(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    hour = (datetime.now(UTC).hour + 12) % 24
    allow = f'{{kind: allow, schedule: "0 {hour} * * *", duration: 1h, namespaces: ["{namespace}"]}}'
    target, projects, _ = app_with_projects_dir(tmp_path, namespace, allow)
    code, _, err = cli("sync", str(target), "--projects", str(projects))
    assert code == 2 and "blocked: no allow window is open" in err and ":00:00Z" in err, err
    assert not exists(cluster, "-n", namespace, "configmap/a")
    at = datetime.now(UTC).replace(hour=hour, minute=30, second=0, microsecond=0).isoformat()
    code, out, _ = cli("windows", str(target), "--projects", str(projects), "--at", at)
    assert code == 0 and "allow" in out and "active" in out.lower()


def test_an_application_naming_a_missing_project_is_an_error(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"app/a.yaml": cm("a", namespace), "apps/app.yaml": application("lost", repo, namespace, "nope")})
    code, _, err = cli("diff", str(repo / "apps" / "app.yaml"))
    assert code == 2 and "project 'nope' exists nowhere" in err


def test_projects_are_read_from_the_clusters_config_namespace(cluster: Cluster, namespace: str, tmp_path: Path,
                                                              appproject_crd: None) -> None:
    repo = tmp_path / "repo"
    name = f"incluster-{uuid.uuid4().hex[:6]}"
    cfg = namespace  # the config namespace holds the AppProject, and the Application (Argo CD's own namespace)
    app_file = application(name, repo, namespace, name).replace("namespace: argocd", f"namespace: {cfg}")
    make_repo(repo, {"app/a.yaml": cm("a", namespace), "app/s.yaml": secret("s", namespace), "apps/app.yaml": app_file})
    project = app_project(name, OPEN + '  namespaceResourceBlacklist: [{group: "", kind: Secret}]\n')
    cluster.kubectl("apply", "-f", "-", stdin=project.replace("namespace: argocd", f"namespace: {cfg}"))
    code, out, err = cli("diff", str(repo / "apps" / "app.yaml"), "--config-namespace", cfg, "-o", "json")
    assert code == 1, err
    status = {r["kind"]: (r["status"], r["message"]) for r in json.loads(out)["apps"][0]["resources"]}
    assert status["Secret"] == ("Unknown", f"resource :Secret is not permitted in project {name}")
    assert status["ConfigMap"][0] == "Missing"
    # Elsewhere the project does not exist.
    code, _, err = cli("diff", str(repo / "apps" / "app.yaml"))
    assert code == 2 and f"project '{name}' exists nowhere" in err
