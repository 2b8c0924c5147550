"""Getting a chart ready for `helm template`: pulled from a Helm repository into the cache, and its
dependencies built from their repositories and cached.

helm runs with its own home (config, cache, repositories) in a private temporary directory, so a user's
helm settings never change what renders and nothing of ours lands in theirs. Credentials come from the
repository URL or HELM_REPO_USERNAME/HELM_REPO_PASSWORD and reach helm on stdin (`--password-stdin`),
never on a command line; the temporary home that holds them is removed when the command ends.

Cache layout (`cache_dir("helm")`): `charts/<digest>/<chart>/` one pulled chart per (repository, chart,
exact version); `deps/<digest>/*.tgz` the `charts/` built for a set of dependencies (Chart.yaml's list,
Chart.lock and the content of `file://` dependencies).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import paths
from kubectl_gitops.render.run import run
from kubectl_gitops.trees import Tree, cache_dir, private_files

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Repo:
    url: str  # without credentials: what messages and cache keys show
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str, secrets: Callable[[], list[tuple[str, str, str, bool]]] = list) -> Repo:
        """Credentials from the URL, else HELM_REPO_USERNAME/HELM_REPO_PASSWORD, else the Argo CD
        repository Secret for this URL (or the repo-creds Secret with the longest matching prefix)."""
        parts = urlsplit(url)
        bare = urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")
                                         if parts.hostname else parts.netloc)).rstrip("/")
        if parts.username:
            return cls(bare, parts.username, parts.password or "")
        if os.environ.get("HELM_REPO_USERNAME"):
            return cls(bare, os.environ["HELM_REPO_USERNAME"], os.environ.get("HELM_REPO_PASSWORD", ""))
        found = secret_for(bare, secrets() if bare.startswith(("http", "oci")) else [])
        return cls(bare, *found) if found else cls(bare)

    @property
    def oci(self) -> bool:
        return self.url.startswith("oci://")


def secret_for(url: str, secrets: list[tuple[str, str, str, bool]]) -> tuple[str, str] | None:
    """Argo CD's matching: a repository Secret for exactly this URL, else the longest repo-creds prefix."""
    exact = [(u, p) for s_url, u, p, prefix in secrets if not prefix and s_url.rstrip("/") == url]
    if exact:
        return exact[0]
    prefixes = sorted(((s_url, u, p) for s_url, u, p, prefix in secrets if prefix and url.startswith(s_url)),
                      key=lambda e: len(e[0]), reverse=True)
    return (prefixes[0][1], prefixes[0][2]) if prefixes else None


class HelmHome:
    """A private HELM_* home for one render; repositories are added to it as they are needed."""

    def __init__(self, helm: str, where: str, timeout: float, dir_: Path, pass_credentials: bool) -> None:
        self.helm, self.where, self.timeout, self.dir = helm, where, timeout, dir_
        self.pass_credentials = pass_credentials
        self.env = {"HELM_CONFIG_HOME": str(dir_ / "config"), "HELM_CACHE_HOME": str(dir_ / "cache"),
                    "HELM_DATA_HOME": str(dir_ / "data"), "HELM_REPOSITORY_CONFIG": str(dir_ / "repositories.yaml"),
                    "HELM_REPOSITORY_CACHE": str(dir_ / "cache" / "repository"),
                    "HELM_REGISTRY_CONFIG": str(dir_ / "registry.json")}
        self.names: dict[str, str] = {}

    def helm_run(self, *args: str, what: str, cwd: Path | None = None, stdin: str | None = None) -> str:
        return run([self.helm, *args], where=self.where, what=what, timeout=self.timeout, cwd=cwd, env=self.env,
                   stdin=stdin)

    def add(self, repo: Repo) -> str:
        """The name the repository has in this home (added on first use; OCI registries are logged in)."""
        if repo.url in self.names:
            return self.names[repo.url]
        name = f"repo{len(self.names)}"
        self.names[repo.url] = name
        creds = ["--username", repo.username, "--password-stdin"] if repo.username else []
        passing = ["--pass-credentials"] if self.pass_credentials else []
        if repo.oci:
            if creds:
                host = urlsplit(repo.url).netloc
                self.helm_run("registry", "login", host, *creds, what=f"helm registry login {host}",
                              stdin=repo.password)
            return name
        self.helm_run("repo", "add", name, repo.url, *creds, *passing, what=f"helm repo add {repo.url}",
                      stdin=repo.password if creds else None)
        return name


@contextmanager
def helm_home(helm: str, where: str, timeout: float, pass_credentials: bool = False) -> Iterator[HelmHome]:
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-helm-") as d:
        yield HelmHome(helm, where, timeout, Path(d), pass_credentials)


# -- charts from a Helm repository -------------------------------------------------------------------

def chart_key(repo: Repo, chart: str, version: str) -> str:
    return hashlib.sha256("\0".join([repo.url, chart, version.lstrip("v")]).encode()).hexdigest()


def pulled_chart(home: HelmHome, repo: Repo, chart: str, version: str) -> Path:
    """The chart's directory in the cache; pulled only when that exact version is not there yet."""
    exact = bool(EXACT_VERSION.match(version))
    if exact and (hit := cached_chart(chart_key(repo, chart, version), chart)) is not None:
        return hit
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-pull-") as tmp:
        version_args = ["--version", version] if version else []
        if repo.oci:
            home.add(repo)
            ref = [f"{repo.url}/{chart}"]
        else:
            ref = [f"{home.add(repo)}/{chart}"] if repo.username else ["--repo", repo.url, chart]
        passing = ["--pass-credentials"] if home.pass_credentials and not repo.oci else []
        home.helm_run("pull", *ref, *version_args, *passing, "--untar", "--untardir", tmp,
                      what=f"helm pull {chart} {version or '(latest)'} from {repo.url}")
        pulled = Path(tmp) / chart
        if not (pulled / "Chart.yaml").is_file():
            raise GitopsError(f"{home.where}: {repo.url} gave no chart named {chart!r}")
        got = str((yamlio.load((pulled / "Chart.yaml").read_bytes(), f"{chart}/Chart.yaml") or {}).get("version", ""))
        return _store(pulled, cache_dir("helm", "charts", chart_key(repo, chart, got or version)), chart)


def cached_chart(key: str, chart: str) -> Path | None:
    p = cache_dir("helm", "charts", key, chart)
    return p if (p / "Chart.yaml").is_file() else None


def _store(src: Path, dest: Path, name: str) -> Path:
    """Move `src` into the cache as `dest/name`, atomically; a concurrent run's identical copy wins."""
    if not (dest / name).exists():
        tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}.{threading.get_ident()}")
        with private_files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), tmp / name)
            dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest / name


# -- dependencies -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    repository: str


def dependencies(chart_dir: Path, where: str) -> list[Dependency]:
    doc = yamlio.load((chart_dir / "Chart.yaml").read_bytes(), f"{where} Chart.yaml") or {}
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise GitopsError(f"{where}: Chart.yaml dependencies must be a list")
    out = []
    for d in deps:
        if not isinstance(d, dict) or not d.get("name"):
            raise GitopsError(f"{where}: Chart.yaml: each dependency needs a name")
        repo = str(d.get("repository") or "")
        if repo.startswith(("@", "alias:")):
            raise GitopsError(f"{where}: Chart.yaml dependency {d['name']}: repository {repo!r} names a "
                              "repository of your helm configuration", hint="give its URL instead")
        out.append(Dependency(str(d["name"]), str(d.get("version") or ""), repo))
    return out


def missing(chart_dir: Path, deps: list[Dependency]) -> bool:
    """Is a dependency absent from charts/ (as a directory or `<name>-<version>.tgz`)?"""
    have = os.listdir(chart_dir / "charts") if (chart_dir / "charts").is_dir() else []
    return any(d.name not in have and not any(f.startswith(f"{d.name}-") and f.endswith(".tgz") for f in have)
               for d in deps)


def local_dependency_dirs(tree: Tree | None, chart_dir: Path, deps: list[Dependency], where: str) -> list[Path]:
    """The directories of `file://` dependencies, each confined to the repository."""
    out = []
    for d in deps:
        if d.repository.startswith("file://"):
            target = chart_dir / d.repository.removeprefix("file://")
            out.append(paths.confine(tree, target, f"dependency {d.name}", where) if tree else target.resolve())
    return out


def built_dependencies(home: HelmHome, tree: Tree | None, chart_dir: Path, deps: list[Dependency],
                       digest: str, secrets: Callable[[], list[tuple[str, str, str, bool]]] = list) -> Path:
    """The cached `charts/` for these dependencies (`digest` names them), built when missing."""
    dest = cache_dir("helm", "deps", digest)
    if (dest / "charts").is_dir():
        return dest / "charts"
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-deps-") as tmp:
        # The chart and its file:// dependencies keep their places relative to each other.
        root = (tree.root if tree else chart_dir).resolve()
        for src in (chart_dir.resolve(), *local_dependency_dirs(tree, chart_dir, deps, home.where)):
            shutil.copytree(src, Path(tmp) / "ws" / src.relative_to(root), symlinks=False, dirs_exist_ok=True)
        work = Path(tmp) / "ws" / chart_dir.resolve().relative_to(root)
        for d in deps:
            if d.repository.startswith(("http://", "https://", "oci://")):
                home.add(Repo.parse(d.repository, secrets))
        home.helm_run("dependency", "build", str(work), what="helm dependency build")
        built = Path(tmp) / "built"
        built.mkdir()
        for f in (work / "charts").iterdir():
            if f.suffix == ".tgz":
                shutil.copy2(f, built / f.name)
        return _store(built, dest, "charts")


def deps_digest(chart_dir: Path, deps: list[Dependency], local: list[Path]) -> str:
    lock = chart_dir / "Chart.lock"
    parts = [orjson.dumps([d.__dict__ for d in deps]).decode(), lock.read_text() if lock.is_file() else ""]
    parts += [dir_digest(p) for p in local]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def dir_digest(top: Path) -> str:
    """A digest of a directory's files (paths and content), for work trees that have no git ids."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            h.update(f"{p.relative_to(top).as_posix()}\0".encode())
            try:
                h.update(hashlib.sha256(p.read_bytes()).digest())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()
