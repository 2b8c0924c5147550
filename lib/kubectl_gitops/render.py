"""Render an app's source path into manifests: Kustomize via `kubectl kustomize`, else a directory of
YAML/JSON files. Renders of git trees are cached by content (tree ids), so an unchanged app is never
rendered twice."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from kubectl_gitops import yamlio
from kubectl_gitops.apps import MANIFEST_SUFFIXES, Directory
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj
from kubectl_gitops.source import Tree, cache_dir

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_CACHE_VERSION = "1"


@dataclass(frozen=True)
class Manifest:
    obj: Obj
    origin: str  # the file (or kustomize directory) it came from, for messages


def render(tree: Tree, path: str, directory: Directory, where: str = "") -> list[Manifest]:
    """`where` names the app in messages (its Application file and name)."""
    app_dir = (tree.root / path).resolve() if path not in ("", ".") else tree.root
    if not app_dir.is_dir():
        raise GitopsError(f"{where or path}: path {path!r} does not exist in {tree.label}")
    kustomize = any((app_dir / k).is_file() for k in KUSTOMIZATION_FILES)
    key = _cache_key(tree, path, directory, kustomize)
    if key and (hit := _cache_read(key)) is not None:
        return hit
    manifests = (render_kustomize(app_dir, tree.display(app_dir)) if kustomize
                 else render_directory(app_dir, directory, tree.display))
    if key:
        _cache_write(key, manifests)
    return manifests


# -- kustomize ------------------------------------------------------------------------------------

def render_kustomize(app_dir: Path, origin: str) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise GitopsError(f"{origin}: rendering Kustomize needs kubectl on PATH")
    proc = subprocess.run([kubectl, "kustomize", str(app_dir)], capture_output=True, text=True)
    if proc.returncode != 0:
        err = re.sub(r'^E\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=', "", proc.stderr.strip())
        raise GitopsError(f"{origin}: kustomize failed: {err}")
    return [Manifest(o, origin) for o in _objects(yamlio.load_all(proc.stdout, origin), origin)]


def _kustomize_deps(tree: Tree, rel_dir: PurePosixPath, seen: set[str]) -> list[str]:
    """Git ids of every local file/dir a kustomization refers to, recursively, so the cache key
    changes when e.g. `../../base` changes."""
    if str(rel_dir) in seen:
        return []
    seen.add(str(rel_dir))
    doc = None
    for name in KUSTOMIZATION_FILES:
        f = tree.root / rel_dir / name
        if f.is_file():
            doc = yamlio.load(f.read_bytes(), str(f)) or {}
            break
    ids: list[str] = []
    for ref in _strings(doc):
        if "://" in ref or "\n" in ref or len(ref) > 255:
            continue
        target = PurePosixPath(os.path.normpath(rel_dir / ref))
        if str(target).startswith(".."):
            continue
        oid = tree.subtree_id(str(target))
        if oid:
            ids.append(f"{target}={oid}")
            if (tree.root / target).is_dir():
                ids.extend(_kustomize_deps(tree, target, seen))
    return ids


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


# -- plain directories ----------------------------------------------------------------------------

def render_directory(app_dir: Path, d: Directory, display: Callable[[Path], str] = str) -> list[Manifest]:
    out: list[Manifest] = []
    for f in _manifest_files(app_dir, d):
        origin = display(f)
        data = f.read_bytes()
        if f.suffix == ".json":
            try:
                docs = [orjson.loads(data)]
            except orjson.JSONDecodeError as e:
                raise GitopsError(f"{origin}: invalid JSON: {e}") from None
        else:
            docs = list(yamlio.load_all(data, origin))
        out.extend(Manifest(o, origin) for o in _objects(docs, origin))
    return out


def _manifest_files(app_dir: Path, d: Directory) -> list[Path]:
    files = sorted(app_dir.rglob("*") if d.recurse else app_dir.iterdir())
    picked = []
    for f in files:
        if not f.is_file() or f.suffix not in MANIFEST_SUFFIXES:
            continue
        rel = f.relative_to(app_dir).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if d.include and not _glob_match(d.include, rel):
            continue
        if d.exclude and _glob_match(d.exclude, rel):
            continue
        picked.append(f)
    return picked


def _glob_match(pattern: str, rel: str) -> bool:
    """Argo CD's include/exclude: a glob, `{a,b}` alternatives, on the path or the file name."""
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], p)
               for p in _braces(pattern))


def _braces(pattern: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",")
            for x in _braces(pattern[:m.start()] + alt + pattern[m.end():])]


# -- validation -----------------------------------------------------------------------------------

def _objects(docs: Any, origin: str) -> list[Obj]:
    """Flatten `*List` kinds and check each object names apiVersion, kind and a name."""
    out: list[Obj] = []
    for i, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise GitopsError(f"{origin}: document {i} is not a Kubernetes object (a mapping)")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(_objects(doc["items"], origin))
            continue
        meta = doc.get("metadata")
        what = f"{origin}: document {i} ({doc.get('kind') or 'no kind'})"
        if not doc.get("apiVersion"):
            raise GitopsError(f"{what} has no apiVersion")
        if not doc.get("kind"):
            raise GitopsError(f"{what} has no kind")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise GitopsError(f"{what} has no metadata.name")
        # YAML reads `name: 0123` as a number; the API server accepts only strings.
        bad = next((f for f in ("name", "generateName", "namespace")
                    if meta.get(f) is not None and not isinstance(meta[f], str)), None)
        if bad:
            raise GitopsError(f"{what}: metadata.{bad} {meta[bad]!r} is not a string", hint="quote it in the YAML")
        out.append(doc)
    return out


# -- cache ----------------------------------------------------------------------------------------

def _cache_key(tree: Tree, path: str, d: Directory, kustomize: bool) -> str | None:
    app_id = tree.subtree_id(path)
    if app_id is None:
        return None  # a work tree: files may have local edits
    parts = [RENDER_CACHE_VERSION, app_id, repr(d)]
    if kustomize:
        parts.append(_kubectl_identity())
        parts.extend(_kustomize_deps(tree, PurePosixPath(path), set()))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _kubectl_identity() -> str:
    """The renderer's version without running it: the binary's path, size and mtime."""
    path = shutil.which("kubectl") or ""
    st = os.stat(path) if path else None
    return f"{path}:{st.st_size}:{st.st_mtime_ns}" if st else "none"


def _cache_read(key: str) -> list[Manifest] | None:
    f = cache_dir("render", key[:2], f"{key}.json")
    try:
        return [Manifest(obj, origin) for origin, obj in orjson.loads(f.read_bytes())]
    except (OSError, orjson.JSONDecodeError, ValueError):
        return None


def _cache_write(key: str, manifests: list[Manifest]) -> None:
    f = cache_dir("render", key[:2], f"{key}.json")
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(orjson.dumps([[m.origin, m.obj] for m in manifests]))
    tmp.replace(f)
