"""Render an app's source into manifests, behind one small interface.

Each renderer (directory, kustomize, helm) says whether it reads a source, renders it, and names the
inputs its output depends on; `render` picks the first that claims the source and caches the result by
those inputs (see cache.py). A renderer that cannot name its inputs cheaply returns no key and is run
every time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from kubectl_gitops.apps import App
from kubectl_gitops.appsource import Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import key_of
from kubectl_gitops.render import cache, paths
from kubectl_gitops.render.manifest import Manifest
from kubectl_gitops.repourl import RepoURL
from kubectl_gitops.trees import Tree

__all__ = [
    "DEFAULT_TIMEOUT",
    "Manifest",
    "Renderer",
    "Renders",
    "Request",
    "Target",
    "TargetOnce",
    "render",
    "render_sources",
    "renderer_for",
]

T = TypeVar("T")
DEFAULT_TIMEOUT = 90.0  # seconds, like Argo CD's exec timeout


@dataclass(frozen=True)
class Target:
    """What renderers learn about the destination: Helm's --kube-version and --api-versions."""

    kube_version: str = ""
    api_versions: tuple[str, ...] = ()


class Once(Generic[T]):
    """A value from the cluster (its versions, repository Secrets), asked for once by whichever render
    needs it first; renders run in threads."""

    def __init__(self, ask: Callable[[], T]) -> None:
        self._ask = ask
        self._lock = threading.Lock()
        self._value: list[T] = []

    def __call__(self) -> T:
        with self._lock:
            if not self._value:
                self._value.append(self._ask())
            return self._value[0]


@dataclass(frozen=True)
class Request:
    tree: Tree | None  # None for a chart from a Helm repository
    path: str  # the source's path in the tree ("." for its root)
    source: Source
    app_name: str = ""
    namespace: str = ""  # the destination namespace
    where: str = ""  # names the app in messages (its Application file and name)
    target: Callable[[], Target] = Target
    refs: Mapping[str, Tree] = field(default_factory=dict)  # multi-source `ref` name → its tree
    timeout: float = DEFAULT_TIMEOUT
    env: Mapping[str, str] = field(default_factory=dict)  # ARGOCD_APP_* build environment
    # Argo CD repository Secrets readable in the cluster: (url, username, password, is_prefix) each.
    repo_secrets: Callable[[], list[tuple[str, str, str, bool]]] = list

    @property
    def app_dir(self) -> Path:
        assert self.tree is not None
        return self.tree.root if self.path in ("", ".") else self.tree.root / self.path

    @property
    def label(self) -> str:
        return self.where or self.path


class Renderer(Protocol):
    name: str

    def claims(self, req: Request) -> bool:
        """Does this renderer read the source (e.g. a kustomization file in its directory)?"""
        ...

    def cache_key(self, req: Request) -> list[str] | None:
        """Everything the output depends on, for a content-addressed cache; None: not cacheable."""
        ...

    def render(self, req: Request) -> list[Manifest]:
        ...


def _registry() -> tuple[Renderer, ...]:
    """In Argo CD's order of detection: a kustomization wins over a Chart.yaml beside it."""
    from kubectl_gitops.render.directory import DirectoryRenderer
    from kubectl_gitops.render.helm import HelmRenderer
    from kubectl_gitops.render.kustomize import KustomizeRenderer

    return (KustomizeRenderer(), HelmRenderer(), DirectoryRenderer())


def renderer_for(req: Request) -> Renderer:
    """The renderer of the type the source names (`helm:`/`kustomize:`), else the first that claims it."""
    claiming = [r for r in _registry() if r.claims(req)]
    for name, given in (("helm", req.source.helm), ("kustomize", req.source.kustomize)):
        if given is not None:
            named = next((r for r in claiming if r.name == name), None)
            if named is None:
                raise GitopsError(f"{req.label}: source.{name} is set, but {req.path!r} is a {claiming[0].name} "
                                  f"source, not {name}")
            return named
    return claiming[0]


def render(req: Request) -> list[Manifest]:
    if req.tree is not None:
        app_dir = paths.confine(req.tree, req.app_dir, "path", req.label, shown=req.path)
        if not app_dir.is_dir():
            raise GitopsError(f"{req.label}: path {req.path!r} does not exist in {req.tree.label}")
        paths.confine_tree(req.tree, app_dir, req.label)
    renderer = renderer_for(req)
    parts = renderer.cache_key(req)
    key = cache.key(renderer.name, parts) if parts is not None else None
    if key and (hit := cache.read(key)) is not None:
        return hit
    manifests = renderer.render(req)
    if key:
        cache.write(key, manifests)
    return manifests


def render_sources(reqs: list[Request], warn: Callable[[str], None]) -> list[Manifest]:
    """Each source rendered on its own, concatenated; an object two sources define: the last wins."""
    rendering = [r for r in reqs if r.source.renders]
    if len(rendering) == 1:
        return render(rendering[0])
    out: dict[object, Manifest] = {}
    for req in rendering:
        index = reqs.index(req)
        for m in render(req):
            m = Manifest(m.obj, f"{m.origin} (spec.sources[{index}])")  # which source, in messages and -o json
            k = key_of(m.obj)
            if k in out:
                warn(f"{req.label}: {k} comes from more than one source; the last one "
                     f"({m.origin}) wins over {out[k].origin}")
                del out[k]
            out[k] = m
    return list(out.values())


class Renders:
    """Renders apps ahead of their compare, in threads bounded by the cores (Helm and kubectl are
    subprocesses; an app's render waits only for its own). Errors surface when the app is asked for."""

    def __init__(self, requests_for: Callable[[App], list[Request]], warn: Callable[[str], None]) -> None:
        self._requests_for = requests_for
        self._warn = warn
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="render")
        self._futures: dict[str, Future[list[Manifest]]] = {}
        self._sources: dict[str, tuple[str, str | None]] = {}

    def prefetch(self, apps: Iterable[App]) -> None:
        for app in apps:
            if app.name not in self._futures:
                try:
                    reqs = self._requests_for(app)  # here: picking trees fetches Git, one at a time
                except GitopsError as e:
                    failed: Future[list[Manifest]] = Future()
                    failed.set_exception(e)
                    self._futures[app.name] = failed
                    continue
                self._futures[app.name] = self._pool.submit(render_sources, reqs, self._warn)
                label = ", ".join(dict.fromkeys(
                    r.tree.label if r.tree else f"{RepoURL.parse(r.source.repo_url).shown} {r.source.chart}"
                    for r in reqs if r.source.renders))
                self._sources[app.name] = (label, reqs[0].tree.commit if reqs[0].tree else None)

    def source_of(self, app: App) -> tuple[str, str | None]:
        """Where `app` was rendered from, for reports ("work tree", "rev abc1234", a chart repository),
        and the commit of its first source (None outside git or for a chart repository)."""
        return self._sources.get(app.name, ("", None))

    def get(self, app: App) -> list[Manifest]:
        self.prefetch([app])
        return self._futures[app.name].result()

    def __enter__(self) -> Renders:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
