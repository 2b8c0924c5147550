"""Kustomize via `kubectl kustomize`: a directory with a kustomization file.

A git tree's render is cached by the tree ids of the kustomization and of every local file or directory
it refers to (recursively), plus kubectl's identity. A work tree's is not cached: its inputs (remote
bases, generators) have no cheap key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kubectl_gitops import yamlio
from kubectl_gitops.appsource import Kustomize
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import paths
from kubectl_gitops.render.kustomize_edit import has_options, relative, wrapper
from kubectl_gitops.render.manifest import Manifest, objects
from kubectl_gitops.render.run import identity, run, tool
from kubectl_gitops.trees import Tree

if TYPE_CHECKING:
    from kubectl_gitops.render import Request

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Fields of a kustomization that name local files or directories (kustomize's own schema).
PATH_FIELDS = ("resources", "bases", "components", "patchesStrategicMerge", "crds", "configurations",
               "generators", "transformers", "validators")


def kustomization_file(d: Path) -> Path | None:
    return next((d / k for k in KUSTOMIZATION_FILES if (d / k).is_file()), None)


class KustomizeRenderer:
    name = "kustomize"

    def claims(self, req: Request) -> bool:
        return req.tree is not None and kustomization_file(req.app_dir) is not None

    def cache_key(self, req: Request) -> list[str] | None:
        tree = req.tree
        app_id = tree.subtree_id(req.path) if tree else None
        if tree is None or app_id is None:
            return None
        k = req.source.kustomize
        extra = [repr(k), *(f"{n}={v}" for n, v in sorted(req.env.items()))] if k else []
        for c in k.components if k else ():
            rel = os.path.normpath(PurePosixPath(req.path) / c)
            extra.append(f"{rel}={tree.subtree_id(rel)}")
            extra.extend(_deps(tree, PurePosixPath(rel), set()))
        return [app_id, identity("kubectl"), *_deps(tree, PurePosixPath(req.path), set()), *extra]

    def render(self, req: Request) -> list[Manifest]:
        assert req.tree is not None
        app_dir = req.app_dir.resolve()
        check_refs(req.tree, app_dir, req.label, set())
        origin = req.tree.display(app_dir)
        kubectl = tool("kubectl", origin, "install kubectl (its `kubectl kustomize` renders Kustomize)")
        k = req.source.kustomize
        if k and k.version:
            _check_version(kubectl, k, req.label, req.timeout)
        if not has_options(k):
            out = run([kubectl, "kustomize", str(app_dir)], where=origin, what="kustomize", timeout=req.timeout)
        else:
            assert k is not None
            out = _render_wrapped(req, k, kubectl, app_dir, origin)
        return [Manifest(o, origin) for o in objects(yamlio.load_all(out, origin), origin)]


def _render_wrapped(req: Request, k: Kustomize, kubectl: str, app_dir: Path, origin: str) -> str:
    """The app's kustomization with `source.kustomize` applied, from a wrapper in a temporary directory."""
    assert req.tree is not None
    tree = req.tree
    kfile = kustomization_file(app_dir)
    own = (yamlio.load(kfile.read_bytes(), origin) or {}) if kfile else {}
    components = []
    for c in k.components:
        if not (app_dir / c).exists():
            if k.ignore_missing_components:
                continue
            raise GitopsError(f"{req.label}: source.kustomize.components entry {c!r} does not exist",
                              hint="set source.kustomize.ignoreMissingComponents: true to skip it")
        check_refs(tree, paths.confine(tree, app_dir / c, "source.kustomize.components entry", req.label),
                   req.label, set())
        components.append(c)
    k = replace(k, components=tuple(components))

    def read_patch(p: str) -> str:
        return paths.confine(tree, app_dir / p, "source.kustomize.patches path", req.label).read_text()

    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-kustomize-") as tmp:
        wrap = Path(tmp).resolve()
        doc = wrapper(k, own if isinstance(own, dict) else {}, relative(wrap, app_dir),
                      lambda c: relative(wrap, (app_dir / c).resolve()), read_patch, req.env, req.label)
        (wrap / "kustomization.yaml").write_text(yamlio.dump(doc))
        return run([kubectl, "kustomize", str(wrap)], where=origin, what="kustomize", timeout=req.timeout)


def _check_version(kubectl: str, k: Kustomize, where: str, timeout: float) -> None:
    """A pinned kustomize version is honoured only if it is the one kubectl embeds."""
    import orjson

    out = run([kubectl, "version", "--client", "-o", "json"], where=where, what="kubectl version", timeout=timeout)
    try:
        have = str(orjson.loads(out).get("kustomizeVersion", ""))
    except orjson.JSONDecodeError:
        have = ""
    if have.lstrip("v") != k.version.lstrip("v"):
        raise GitopsError(f"{where}: source.kustomize.version {k.version!r} cannot be honoured: kubectl "
                          f"renders with kustomize {have or 'of an unknown version'}",
                          hint="remove the pin, or use a kubectl whose `kubectl version --client` shows it")


def local_refs(doc: Any) -> list[str]:
    """The local paths a kustomization names (remote URLs left out)."""
    if not isinstance(doc, dict):
        return []
    refs: list[Any] = []
    for f in PATH_FIELDS:
        refs.extend(doc.get(f) or ())
    for p in doc.get("patches") or ():
        refs.append(p.get("path") if isinstance(p, dict) else None)
    for gen in (*(doc.get("configMapGenerator") or ()), *(doc.get("secretGenerator") or ())):
        if isinstance(gen, dict):
            refs.extend(f.rpartition("=")[2] if isinstance(f, str) else f for f in gen.get("files") or ())
            refs.extend(gen.get("envs") or ())
            refs.append(gen.get("env"))
    for r in (*(doc.get("replacements") or ()), *(doc.get("patchesJson6902") or ()), doc.get("openapi")):
        refs.append(r.get("path") if isinstance(r, dict) else None)
    return [r for r in refs if isinstance(r, str) and r and "://" not in r and not r.startswith("git@")
            and "\n" not in r and len(r) < 4096]


def check_refs(tree: Tree, kdir: Path, where: str, seen: set[Path]) -> None:
    """Every local file a kustomization (and those it includes) names stays inside the repository."""
    if kdir in seen:
        return
    seen.add(kdir)
    kfile = kustomization_file(kdir)
    if kfile is None:
        return
    paths.confine(tree, kfile, "kustomization", where)
    paths.confine_tree(tree, kdir, where)
    for ref in local_refs(yamlio.load(kfile.read_bytes(), tree.display(kfile)) or {}):
        target = paths.confine(tree, kdir / ref, f"{tree.display(kfile)} entry", where, shown=ref)
        if target.is_dir():
            check_refs(tree, target, where, seen)


def _deps(tree: Tree, rel_dir: PurePosixPath, seen: set[str]) -> list[str]:
    """Git ids of every local file/dir a kustomization refers to, recursively, so the cache key
    changes when e.g. `../../base` changes."""
    if str(rel_dir) in seen:
        return []
    seen.add(str(rel_dir))
    kfile = kustomization_file(tree.root / rel_dir)
    doc = yamlio.load(kfile.read_bytes(), str(kfile)) or {} if kfile else {}
    ids: list[str] = []
    for ref in _strings(doc):
        if "://" in ref or "\n" in ref or len(ref) > 255:
            continue
        target = PurePosixPath(os.path.normpath(rel_dir / ref))
        if str(target).startswith(".."):
            continue  # refused when rendered
        oid = tree.subtree_id(str(target))
        if oid:
            ids.append(f"{target}={oid}")
            if (tree.root / target).is_dir():
                ids.extend(_deps(tree, target, seen))
    return ids


def _strings(node: Any) -> list[str]:
    """Every string in a kustomization: a cache key may name more than it needs, never less."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []
