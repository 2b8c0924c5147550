"""Helpers for the `kubectl gitops diff` tests: small git repositories built with the git CLI, manifests
as text, and running the installed `kubectl-gitops-diff` the way a user does."""

from __future__ import annotations

import itertools
import os
import subprocess
import textwrap
from pathlib import Path

from conftest import Cluster, run_cli

GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}
TRACKING = "argocd.argoproj.io/tracking-id"
ORIGIN_URL = "https://git.example.com/team/config.git"


class Repo:
    """A work tree with a `main` branch; `origin` is the URL its Applications name as repoURL."""

    def __init__(self, root: Path, origin: str | None = ORIGIN_URL) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        if origin:
            self.git("remote", "add", "origin", origin)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, env={**os.environ, **GIT_ENV}, check=True,
                              capture_output=True, text=True).stdout.strip()

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def status(self) -> str:
        return self.git("status", "--porcelain")


def bare_remote(path: Path, files: dict[str, str], branch: str = "main") -> Repo:
    """A bare repository at `path` holding `files`, pushed from a scratch clone that is returned."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(path)], check=True,
                   env={**os.environ, **GIT_ENV})
    work = Repo(path.parent / f"{path.name}-work", origin=f"file://{path}")
    for rel, text in files.items():
        work.write(rel, text)
    work.commit("initial")
    work.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return work


def diff(*args: str, cwd: Path | str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl gitops diff ARGS`; whatever happens, a user never sees a traceback."""
    res = run_cli("kubectl-gitops-diff", *args, cwd=cwd, env=env)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (0, 1, 2), (res.returncode, res.stderr)
    return res


def sync(cwd: Path, *args: str) -> tuple[int, str, str]:
    """`kubectl gitops sync ARGS` from `cwd`, never a traceback: (exit code, stdout, stderr)."""
    res = run_cli("kubectl-gitops", "sync", *args, "--timeout", "90s", cwd=cwd)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stdout, res.stderr


def error_of(res: subprocess.CompletedProcess[str]) -> str:
    """The one error message of a failed run: exit 2, stderr's `error:` lines, nothing on stdout."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == "", res.stdout
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    return res.stderr[res.stderr.index("error:"):]


def apply(cluster: Cluster, manifest: str, manager: str = "kubectl-gitops") -> None:
    """What a previous sync left behind: server-side applied as this tool's field manager."""
    cluster.kubectl("apply", "--server-side", f"--field-manager={manager}", "-f", "-",
                    stdin=textwrap.dedent(manifest))


def configmap(ns: str, name: str, data: dict[str, str], annotations: dict[str, str] | None = None) -> str:
    ann = "".join(f"\n    {k}: {v!r}" for k, v in (annotations or {}).items())
    items = "".join(f"\n  {k}: {v!r}" for k, v in data.items()) or " {}"
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            + (f"  annotations:{ann}\n" if ann else "") + f"data:{items}\n")


def deployment(ns: str, name: str, image: str = "registry.invalid/web:1.0.0", replicas: int = 1) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, namespace: {ns}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              containers: [{{name: app, image: "{image}"}}]
        """)


def application(name: str, path: str, ns: str, repo_url: str = ORIGIN_URL, revision: str = "HEAD",
                extra_spec: str = "", app_namespace: str = "") -> str:
    meta_ns = f"\n  namespace: {app_namespace}" if app_namespace else ""
    spec_extra = textwrap.indent(textwrap.dedent(extra_spec), "  ") if extra_spec else ""
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}{meta_ns}\n"
            f"spec:\n  project: default\n  source:\n    repoURL: {repo_url}\n    targetRevision: {revision}\n"
            f"    path: {path}\n  destination:\n    server: https://kubernetes.default.svc\n"
            f"    namespace: {ns}\n{spec_extra}")


def statuses(stdout: str) -> dict[tuple[str, str, str, str], str]:
    """The summary table at the end of the output: (app, kind, namespace, name) -> status."""
    return {(app, kind, ns, name): status for (app, _, kind, ns, name), status in cluster_statuses(stdout).items()}


def cluster_statuses(stdout: str) -> dict[tuple[str, str, str, str, str], str]:
    """The summary table with each app's destination: (app, cluster, kind, namespace, name) -> status."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line.split()[:3] == ["APP", "CLUSTER", "KIND"])
    head = lines[start]
    cols = [head.index(h) for h in ("APP", "CLUSTER", "KIND", "NAMESPACE", "NAME ", "STATUS", "HEALTH")]
    out = {}
    for line in lines[start + 1:]:
        app, cluster, kind, ns, name, status = (line[a:b].strip() for a, b in itertools.pairwise(cols))
        out[(app, cluster, kind, ns, name)] = status
    return out
