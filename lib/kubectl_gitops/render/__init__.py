"""Render an app's source into manifests, behind one small interface.

Each renderer (directory, kustomize, helm) says whether it reads a source, renders it, and names the
inputs its output depends on; `render` picks the first that claims the source and caches the result by
those inputs (see cache.py). A renderer that cannot name its inputs cheaply returns no key and is run
every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubectl_gitops.apps import Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import cache, paths
from kubectl_gitops.render.manifest import Manifest
from kubectl_gitops.source import Tree

__all__ = ["Manifest", "Renderer", "Request", "Target", "render", "renderer_for"]

DEFAULT_TIMEOUT = 90.0  # seconds, like Argo CD's exec timeout


@dataclass(frozen=True)
class Target:
    """What renderers learn about the destination: Helm's --kube-version and --api-versions."""

    kube_version: str = ""
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    tree: Tree
    path: str  # the source's path in the tree ("." for its root)
    source: Source
    app_name: str = ""
    namespace: str = ""  # the destination namespace
    where: str = ""  # names the app in messages (its Application file and name)
    target: Target = field(default_factory=Target)
    refs: Mapping[str, Tree] = field(default_factory=dict)  # multi-source `ref` name → its tree
    timeout: float = DEFAULT_TIMEOUT

    @property
    def app_dir(self) -> Path:
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
    from kubectl_gitops.render.directory import DirectoryRenderer
    from kubectl_gitops.render.kustomize import KustomizeRenderer

    return (KustomizeRenderer(), DirectoryRenderer())


def renderer_for(req: Request) -> Renderer:
    return next(r for r in _registry() if r.claims(req))


def render(req: Request) -> list[Manifest]:
    app_dir = paths.confine(req.tree, req.app_dir, "path", req.label)
    if not app_dir.is_dir():
        raise GitopsError(f"{req.label}: path {req.path!r} does not exist in {req.tree.label}")
    renderer = renderer_for(req)
    parts = renderer.cache_key(req)
    key = cache.key(renderer.name, parts) if parts is not None else None
    if key and (hit := cache.read(key)) is not None:
        return hit
    manifests = renderer.render(req)
    if key:
        cache.write(key, manifests)
    return manifests
