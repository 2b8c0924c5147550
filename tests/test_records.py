"""App records on the real control plane: written by sync, read by list/history/status, used by rollback."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import orjson
import yaml

from conftest import Cluster, run_cli
from gitrepo import commit, make_repo, write_files


def uid() -> str:
    return uuid.uuid4().hex[:6]


def application(name: str, repo: Path, ns: str, automated: bool = False) -> str:
    policy = "  syncPolicy: {automated: {}}\n" if automated else ""
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: 'file://{repo}', path: manifests, "
            f"targetRevision: main}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}\n"
            + policy)


def configmap(ns: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\ndata: {{v: '{value}'}}\n"


def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    res = run_cli("kubectl-gitops", *args, cwd=cwd)
    return res.returncode, res.stdout, res.stderr


def stored_record(cluster: Cluster, config_ns: str, app: str) -> dict:
    cm = cluster.get("configmap", "-n", config_ns, f"kubectl-gitops-app-{app}")
    assert cm["metadata"]["labels"]["kubectl-gitops.io/record"] == "true"
    return orjson.loads(cm["data"]["record.json"])


def test_history_and_rollback_to_an_earlier_commit(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    cfg, app = f"rec-{uid()}", f"web-{uid()}"
    repo = tmp_path / "repo"
    make_repo(repo, {"manifests/cm.yaml": configmap(namespace, "one")})
    write_files(repo, {f"apps/{app}.yaml": application(app, repo, namespace)})
    first = commit(repo, "app")
    code, _, err = cli("sync", app, "--config-namespace", cfg, cwd=repo)
    assert code == 0, err
    write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
    second = commit(repo, "two")
    code, _, err = cli("sync", app, "--config-namespace", cfg, cwd=repo)
    assert code == 0, err
    assert cluster.get("configmap", "-n", namespace, "settings")["data"] == {"v": "two"}

    code, out, err = cli("history", app, "--config-namespace", cfg, "-o", "json", cwd=repo)
    assert code == 0, err
    history = json.loads(out)["history"]
    assert [h["revision"] for h in history] == [first, second]
    assert [h["id"] for h in history] == [0, 1]
    code, out, _ = cli("history", app, "--config-namespace", cfg, cwd=repo)
    assert out.splitlines()[0].split()[:5] == ["ID", "DATE", "REVISION", "CLUSTER", "INITIATED"]
    context = cluster.kubectl("config", "current-context").stdout.strip()
    assert out.splitlines()[1].split()[3] == context  # where the record was read: the current context
    assert first in out and second in out

    code, out, err = cli("rollback", app, "--config-namespace", cfg, cwd=repo)  # default: the one before
    assert code == 0, err
    assert cluster.get("configmap", "-n", namespace, "settings")["data"] == {"v": "one"}
    rec = stored_record(cluster, cfg, app)
    assert [h["revision"] for h in rec["history"]] == [first, second, first]
    assert [h["rollback"] for h in rec["history"]] == [False, False, True]
    assert rec["operation"]["rollback_of"] == 0 and rec["sync_revision"] == first
    code, out, _ = cli("history", app, "--config-namespace", cfg, cwd=repo)
    assert "(rollback)" in out.splitlines()[-1]

    code, out, err = cli("status", app, "--config-namespace", cfg, "-o", "json", cwd=repo)
    doc = json.loads(out)["apps"][0]
    assert doc["deployedRevision"] == first and doc["lastOperation"]["phase"] == "Succeeded"

    code, _, err = cli("rollback", app, "7", "--config-namespace", cfg, cwd=repo)
    assert code == 2 and "no history entry 7 (ids: 0, 1, 2)" in err


def test_automated_app_refuses_rollback_without_force(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    cfg, app = f"rec-{uid()}", f"auto-{uid()}"
    repo = tmp_path / "repo"
    make_repo(repo, {"manifests/cm.yaml": configmap(namespace, "one"),
                     f"apps/{app}.yaml": application(app, repo, namespace, automated=True)})
    assert cli("sync", app, "--config-namespace", cfg, cwd=repo)[0] == 0
    write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
    commit(repo, "two")
    assert cli("sync", app, "--config-namespace", cfg, cwd=repo)[0] == 0
    before = stored_record(cluster, cfg, app)
    code, _, err = cli("rollback", app, "--config-namespace", cfg, cwd=repo)
    assert code == 2 and "syncPolicy.automated" in err and "--force" in err
    assert stored_record(cluster, cfg, app) == before
    assert cluster.get("configmap", "-n", namespace, "settings")["data"] == {"v": "two"}
    code, _, err = cli("rollback", app, "--force", "--config-namespace", cfg, cwd=repo)
    assert code == 0, err
    assert cluster.get("configmap", "-n", namespace, "settings")["data"] == {"v": "one"}


def test_list_without_git_and_as_a_read_only_user(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    cfg, app = f"rec-{uid()}", f"listed-{uid()}"
    repo = tmp_path / "repo"
    make_repo(repo, {"manifests/cm.yaml": configmap(namespace, "one"),
                     f"apps/{app}.yaml": application(app, repo, namespace)})
    assert cli("sync", app, "--config-namespace", cfg, cwd=repo)[0] == 0
    elsewhere = tmp_path / "elsewhere"  # another machine: no checkout at all
    elsewhere.mkdir()
    for extra in ((), ("--context", "limited")):
        code, out, err = cli("list", "--config-namespace", cfg, *extra, cwd=elsewhere)
        assert code == 0, err
        header, row = out.splitlines()
        assert header.split()[:6] == ["NAME", "PROJECT", "CLUSTER", "NAMESPACE", "SYNC", "HEALTH"]
        assert row.split()[0] == app and "Synced" in row and "Succeeded" in row
        # CLUSTER: where the record was read, named as the other tables name it (the context)
        assert row.split()[2] == (extra[1] if extra else cluster.kubectl("config", "current-context").stdout.strip())
        code, out, err = cli("history", app, "--config-namespace", cfg, *extra, cwd=elsewhere)
        assert code == 0, err
        assert len(out.splitlines()) == 2
    code, out, _ = cli("list", "--config-namespace", cfg, "-o", "yaml", cwd=elsewhere)
    items = yaml.safe_load(out)["items"]
    assert items[0]["kind"] == "Application" and items[0]["metadata"]["name"] == app
    assert items[0]["status"]["sync"]["status"] == "Synced"
    assert items[0]["status"]["operationState"]["syncResult"]["resources"][0]["kind"] == "ConfigMap"
    code, out, err = cli("list", app, "--config-namespace", cfg, "-o", "wide", cwd=repo)  # with Git: live now
    assert code == 0, err
    assert "file://" in out and "manifests" in out


def test_a_failed_sync_is_recorded_and_no_secret_value_is_kept(cluster: Cluster, namespace: str,
                                                               tmp_path: Path) -> None:
    cfg, app = f"rec-{uid()}", f"failing-{uid()}"
    repo = tmp_path / "repo"
    stuck = (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: stuck, namespace: {namespace}}}\n"
             "spec:\n  progressDeadlineSeconds: 1\n  selector: {matchLabels: {app: stuck}}\n"
             "  template:\n    metadata: {labels: {app: stuck}}\n    spec:\n      nodeSelector: {no-such: node}\n"
             "      containers: [{name: c, image: 'registry.invalid/app:1'}]\n")
    secret = (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {namespace}}}\n"
              "stringData: {password: hunter2-s3cr3t}\n")
    make_repo(repo, {"manifests/deploy.yaml": stuck, "manifests/secret.yaml": secret,
                     f"apps/{app}.yaml": application(app, repo, namespace)})
    code, _, err = cli("sync", app, "--wait", "--timeout", "60s", "--config-namespace", cfg, cwd=repo)
    assert code == 1, err
    cm = cluster.get("configmap", "-n", cfg, f"kubectl-gitops-app-{app}")
    rec = orjson.loads(cm["data"]["record.json"])
    assert rec["operation"]["phase"] == "Failed"
    assert "stuck" in rec["operation"]["message"]
    assert rec["history"] == [] and rec["sync_status"] == "OutOfSync"
    assert "hunter2" not in json.dumps(cm) and "aHVudGVyMi1zM2NyM3Q" not in json.dumps(cm)
