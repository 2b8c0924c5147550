"""`kubectl gitops health` on files and stdin, and `health fetch` against a git daemon on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from gitrepo import git, git_daemon, make_repo, write_files

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMIZATIONS = FIXTURES / "resource_customizations"

DEPLOYMENT_READY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2}
"""
DEPLOYMENT_ROLLING = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, generation: 5}
spec: {replicas: 3}
status: {observedGeneration: 5, replicas: 3, updatedReplicas: 3, availableReplicas: 1}
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: b}\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A cache of its own, so nothing a developer fetched changes what these runs see."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def health(*args: str, env: dict[str, str], stdin: str | None = None, cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:
    return run_cli("kubectl-gitops", "health", *args, env=env, stdin=stdin, cwd=cwd)


def test_files_all_healthy_exit_0(tmp_path: Path, env: dict[str, str]) -> None:
    write_files(tmp_path, {"web.yaml": DEPLOYMENT_READY + "---\n" + CONFIGMAP})
    res = health(str(tmp_path / "web.yaml"), env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "KIND        NAMESPACE  NAME      HEALTH             MESSAGE",
        "Deployment  shop       web       Healthy",
        "ConfigMap   shop       settings  (no health check)",
    ]


def test_files_one_progressing_exit_1_json(tmp_path: Path, env: dict[str, str]) -> None:
    write_files(tmp_path, {"a.yaml": DEPLOYMENT_READY, "b.json": json.dumps(yaml.safe_load(DEPLOYMENT_ROLLING))})
    res = health(str(tmp_path / "a.yaml"), str(tmp_path / "b.json"), "-o", "json", env=env)
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout) == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web", "health": "Healthy",
         "message": "", "ignored": False},
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "api",
         "health": "Progressing", "message": "Waiting for rollout to finish: 1 of 3 updated replicas are available...",
         "ignored": False},
    ]


def test_stdin_with_a_list_as_kubectl_get_prints_it(env: dict[str, str]) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(DEPLOYMENT_READY),
                                                            yaml.safe_load(DEPLOYMENT_ROLLING)]}
    res = health("-o", "yaml", env=env, stdin=yaml.safe_dump(listing))
    assert res.returncode == 1, res.stderr
    assert [(r["name"], r["health"]) for r in yaml.safe_load(res.stdout)] == [("web", "Healthy"),
                                                                             ("api", "Progressing")]
    # "-" is stdin too, next to files
    res = health("-", env=env, stdin=DEPLOYMENT_READY)
    assert res.returncode == 0 and "Healthy" in res.stdout


def test_ignore_healthcheck_is_shown_but_does_not_count(env: dict[str, str]) -> None:
    doc = yaml.safe_load(DEPLOYMENT_ROLLING)
    doc["metadata"]["annotations"] = {"argocd.argoproj.io/ignore-healthcheck": "true"}
    res = health("-o", "json", env=env, stdin=yaml.safe_dump(doc))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["health"] == "Progressing" and json.loads(res.stdout)[0]["ignored"]


def test_argocd_cm_and_directory_scripts(tmp_path: Path, env: dict[str, str]) -> None:
    route = (CUSTOMIZATIONS / "gateway.example.net/Route/testdata/rejected.yaml").read_text()
    deployment = DEPLOYMENT_READY
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"},
          "data": {"resource.customizations.health.apps_Deployment":
                   'return {status = "Degraded", message = "argocd-cm wins"}'}}
    write_files(tmp_path, {"objs.yaml": route + "---\n" + deployment, "argocd-cm.yaml": yaml.safe_dump(cm)})
    res = health(str(tmp_path / "objs.yaml"), "--resource-customizations", str(CUSTOMIZATIONS), "-o", "json", env=env)
    assert res.returncode == 1, res.stderr
    assert [(r["health"], r["message"]) for r in json.loads(res.stdout)] == [
        ("Degraded", "internal: listener https has no matching hostname"), ("Healthy", "from the directory")]
    # the environment variable chooses the directory too; argocd-cm comes first
    res = health(str(tmp_path / "objs.yaml"), "--argocd-cm", str(tmp_path / "argocd-cm.yaml"), "-o", "json",
                 env={**env, "KUBECTL_GITOPS_RESOURCE_CUSTOMIZATIONS": str(CUSTOMIZATIONS)})
    assert [(r["health"], r["message"]) for r in json.loads(res.stdout)] == [
        ("Degraded", "internal: listener https has no matching hostname"), ("Degraded", "argocd-cm wins")]


def test_a_runaway_script_is_unknown_and_the_others_are_still_assessed(tmp_path: Path, env: dict[str, str]) -> None:
    write_files(tmp_path, {"checks/example.com/Widget/health.lua": "while true do end",
                           "objs.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
                                        + DEPLOYMENT_READY})
    res = health(str(tmp_path / "objs.yaml"), "--resource-customizations", str(tmp_path / "checks"), "-o", "json",
                 env=env)
    assert res.returncode == 1, res.stderr
    rows = json.loads(res.stdout)
    assert rows[0]["health"] == "Unknown"
    assert rows[0]["message"] == "example.com/Widget/health.lua: Lua script exceeded the 1s time limit (runaway loop?)"
    assert rows[1]["health"] == "Healthy"


@pytest.mark.parametrize(("files", "stdin", "error"), [
    ({"bad.yaml": "kind: [\n"}, None, "bad.yaml"),
    ({"x.yaml": "just: a mapping\n"}, None, "x.yaml: not a Kubernetes object (needs apiVersion and kind)"),
    ({}, "", "error: no Kubernetes objects in stdin"),
    ({"a.yaml": "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: a}\n"}, None,
     "--resource-customizations"),
])
def test_bad_input_exit_2(tmp_path: Path, env: dict[str, str], files: dict[str, str], stdin: str | None,
                          error: str) -> None:
    write_files(tmp_path, files)
    args = [str(tmp_path / name) for name in files]
    if error == "--resource-customizations":
        args += [error, str(tmp_path / "no-such-dir")]
    res = health(*args, env=env, stdin=stdin)
    assert res.returncode == 2
    assert error in res.stderr
    assert res.stdout == "" and "Traceback" not in res.stderr


# --- health fetch ----------------------------------------------------------------------------------


def _served_argo_repo(tmp_path: Path) -> Path:
    """A stand-in for argo-cd with two releases and a pre-release, as a bare repository to serve."""
    work = make_repo(tmp_path / "work", {
        "README.md": "a project\n",
        "resource_customizations/example.com/Widget/health.lua": 'return {status = "Healthy", message = "v1.9"}',
    })
    git(work, "tag", "-a", "v1.9.0", "-m", "v1.9.0")
    write_files(work, {
        "resource_customizations/example.com/Widget/health.lua": 'return {status = "Healthy", message = "v1.10"}',
        "resource_customizations/_.example.org/_/health.lua": 'return {status = "Degraded", message = "wild"}',
    })
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "more checks")
    git(work, "tag", "v1.10.0")  # a lightweight tag, higher than 1.9 by number, not by text
    git(work, "tag", "v2.0.0-rc1")  # a pre-release is never "the latest"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "served" / "argo-cd.git"))
    return tmp_path / "served"


@pytest.fixture
def argo_repo(tmp_path: Path) -> Iterator[str]:
    """The stand-in served by `git daemon` on 127.0.0.1 (stopped by PID)."""
    with git_daemon(_served_argo_repo(tmp_path)) as port:
        yield f"git://127.0.0.1:{port}/argo-cd.git"


@pytest.fixture
def argo_repo_http(tmp_path: Path) -> Iterator[str]:
    """The stand-in over Git's smart HTTP protocol (as github.com serves it): `git http-backend` behind a
    small CGI bridge on 127.0.0.1, shut down after the test."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    served = _served_argo_repo(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._backend()

        def do_POST(self) -> None:
            self._backend()

        def _backend(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {"GIT_PROJECT_ROOT": str(served), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": url.path,
                   "QUERY_STRING": url.query, "REQUEST_METHOD": self.command, "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "PATH": "/usr/bin:/bin"}
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/argo-cd.git"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"


def test_fetch_the_latest_release_and_use_it_by_default(argo_repo: str, tmp_path: Path, env: dict[str, str]) -> None:
    res = health("fetch", "--repo", argo_repo, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("v1.10.0: 2 health checks in ")
    assert "fetching resource_customizations of" in res.stderr
    wild = "apiVersion: db.example.org/v1\nkind: X\nmetadata: {name: x}\n"
    res = health("-o", "json", env=env, stdin=WIDGET + "---\n" + wild)
    assert [(r["health"], r["message"]) for r in json.loads(res.stdout)] == [("Healthy", "v1.10"), ("Degraded", "wild")]
    # only the release's snapshot came over: a shallow repository
    (shallow,) = (tmp_path / "cache" / "kubectl-gitops" / "releases").glob("*.git/shallow")
    assert len(shallow.read_text().split()) == 1


def test_fetch_over_http(argo_repo_http: str, tmp_path: Path, env: dict[str, str]) -> None:
    res = health("fetch", "--repo", argo_repo_http, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("v1.10.0: 2 health checks in ")
    res = health("-o", "json", env=env, stdin=WIDGET)
    assert json.loads(res.stdout)[0]["message"] == "v1.10"
    (shallow,) = (tmp_path / "cache" / "kubectl-gitops" / "releases").glob("*.git/shallow")
    assert len(shallow.read_text().split()) == 1


def test_a_fetched_copy_gone_from_the_cache_is_an_error_naming_it(argo_repo: str, tmp_path: Path,
                                                                  env: dict[str, str]) -> None:
    import shutil

    assert health("fetch", "--repo", argo_repo, env=env).returncode == 0
    marker = tmp_path / "cache" / "kubectl-gitops" / "resource-customizations.json"
    shutil.rmtree(json.loads(marker.read_text())["path"])
    res = health(env=env, stdin=WIDGET)
    assert res.returncode == 2
    assert "the fetched resource customizations are gone from the cache" in res.stderr
    assert f"or delete {marker} to go without" in res.stderr


def test_fetch_a_given_version(argo_repo: str, env: dict[str, str]) -> None:
    res = health("fetch", "--repo", argo_repo, "--version", "1.9.0", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("v1.9.0: 1 health checks in ")
    res = health("-o", "json", env=env, stdin=WIDGET)
    assert json.loads(res.stdout)[0]["message"] == "v1.9"
    # an explicit directory still wins over the fetched default
    res = health("-o", "json", "--resource-customizations", str(CUSTOMIZATIONS), env=env, stdin=WIDGET)
    assert json.loads(res.stdout)[0]["health"] is None


def test_fetch_an_unknown_version_exit_2(argo_repo: str, env: dict[str, str]) -> None:
    res = health("fetch", "--repo", argo_repo, "--version", "v9.9.9", env=env)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-2:] == [f"error: {argo_repo}: has no release tag v9.9.9",
                                                    "hint: name an existing release with --version"]
    assert "Traceback" not in res.stderr


def test_fetch_from_an_unreachable_repository_exit_2(env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    res = health("fetch", "--repo", f"git://127.0.0.1:{port}/argo-cd.git", env=env)
    assert res.returncode == 2
    assert f"error: cannot fetch the release tags from git://127.0.0.1:{port}/argo-cd.git" in res.stderr


def test_help_and_man_page_name_every_option() -> None:
    import click

    from kubectl_gitops.cli import main

    group = main.get_command(click.Context(main), "health")
    page = (Path(__file__).parent.parent / "man" / "kubectl-gitops-health.1").read_text().replace("\\-", "-")
    for cmd in group.commands.values():
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, f"{opt} missing from the health man page"
    res = run_cli("kubectl-gitops", "health", "--help")
    assert res.returncode == 0
    assert res.stdout.startswith("Usage: kubectl gitops health [OPTIONS] [FILE]...")
    assert "fetch  Download Argo CD's bundled health checks into the cache." in res.stdout
