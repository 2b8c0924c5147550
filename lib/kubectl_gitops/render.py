"""Render an app's source path into manifests: Kustomize via `kubectl kustomize`, else a directory of
YAML/JSON files.

Two caches, both under `cache_dir()`, both orjson:

- Renders of git trees are cached by content (tree ids), so an unchanged app is never rendered twice.
- A work tree has no ids, yet parsing its YAML is most of a no-change diff or sync (libyaml scans fast,
  PyYAML builds the Python objects slowly: ~0.15-0.3 s per 1,000 files). So a plain directory's parsed
  YAML documents are kept in one file per app directory and Directory options, each file's keyed by
  its path and (size, mtime, ctime, inode, device); ctime because `touch -d` or tar can set mtime
  back, never ctime. The listing is made afresh and validation runs on every run. A file whose mtime
  or ctime is within RACY_WINDOW_NS of the run's start is parsed and not stored: a second edit in the
  same timestamp tick would leave its stat unchanged ("racy git"). Documents JSON cannot hold exactly
  (dates, non-string keys, …) are not stored either. Kustomize output of a work tree is not cached:
  its inputs (files a kustomization refers to, remote bases, generators) have no cheap key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

import orjson

from kubectl_gitops import yamlio
from kubectl_gitops.apps import MANIFEST_SUFFIXES, Directory
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Manifest, Obj
from kubectl_gitops.source import Tree, cache_dir

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_CACHE_VERSION = "1"
WORKTREE_CACHE_VERSION = "1"  # bump when the parse cache's format or key changes
# A file changed this recently may change again without its stat showing it: timestamps have a
# resolution (2 s for FAT's mtime), and a network filesystem's clock may be a little off ours.
RACY_WINDOW_NS = 2_000_000_000


def render(tree: Tree, path: str, directory: Directory, where: str = "") -> list[Manifest]:
    """`where` names the app in messages (its Application file and name)."""
    app_dir = (tree.root / path).resolve() if path not in ("", ".") else tree.root
    if not app_dir.is_dir():
        raise GitopsError(f"{where or path}: path {path!r} does not exist in {tree.label}")
    kustomize = any((app_dir / k).is_file() for k in KUSTOMIZATION_FILES)
    key = _cache_key(tree, path, directory, kustomize)
    if key and (hit := _cache_read(key)) is not None:
        return hit
    if kustomize:
        manifests = render_kustomize(app_dir, tree.display(app_dir))
    else:  # a git tree's render is cached whole (above); a work tree's files one by one
        manifests = render_directory(app_dir, directory, tree.display, parse_cache=key is None)
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

def render_directory(app_dir: Path, d: Directory, display: Callable[[Path], str] = str,
                     parse_cache: bool = False) -> list[Manifest]:
    """`parse_cache`: reuse the documents parsed by an earlier run from files that did not change."""
    cache = _ParseCache.open(app_dir, d) if parse_cache else None
    out: list[Manifest] = []
    for f in _manifest_files(app_dir, d):
        origin = display(f)
        docs = cache.docs(f, origin) if cache else _parse(f, origin)
        out.extend(Manifest(o, origin) for o in _objects(docs, origin))
    if cache:
        cache.save()  # only after every file parsed and validated: a failed run leaves the old cache
    return out


def _parse(f: Path, origin: str) -> list[Any]:
    data = f.read_bytes()
    if f.suffix == ".json":
        try:
            return [orjson.loads(data)]
        except orjson.JSONDecodeError as e:
            raise GitopsError(f"{origin}: invalid JSON: {e}") from None
    return list(yamlio.load_all(data, origin))


def _manifest_files(app_dir: Path, d: Directory) -> list[Path]:
    picked = []
    for rel, f in _files(app_dir, d.recurse):
        # endswith is Path.suffix here: a name that is all suffix starts with a dot, skipped anyway
        if not rel.endswith(MANIFEST_SUFFIXES) or any(part.startswith(".") for part in rel.split("/")):
            continue
        if d.include and not _glob_match(d.include, rel):
            continue
        if d.exclude and _glob_match(d.exclude, rel):
            continue
        picked.append(f)
    return picked


def _files(app_dir: Path, recurse: bool) -> list[tuple[str, Path]]:
    """Every file (or symlink to one) in `app_dir`, with its path relative to it, in path order."""
    if recurse:
        return [(f.relative_to(app_dir).as_posix(), f) for f in sorted(app_dir.rglob("*")) if f.is_file()]
    # The common flat case without pathlib's per-file costs: DirEntry knows a regular file without a
    # stat, and names sort like the paths of one directory do.
    with os.scandir(app_dir) as entries:
        names = sorted(e.name for e in entries if _is_file(e))
    return [(name, app_dir / name) for name in names]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:  # e.g. a symlink loop: not a file, as Path.is_file says
        return False


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
    if not _json_exact([m.obj for m in manifests]):
        return  # it would read back different (or not encode at all): render it again next time
    f = cache_dir("render", key[:2], f"{key}.json")
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(orjson.dumps([[m.origin, m.obj] for m in manifests]))
    tmp.replace(f)


def _json_exact(value: Any) -> bool:
    """Does `value` come back from orjson equal? YAML also makes dates, binary, sets, ordered pairs,
    NaN, integers beyond 64 bits and non-string keys, which JSON turns into something else or rejects."""
    try:
        return bool(orjson.loads(orjson.dumps(value)) == value)
    except TypeError:  # orjson.JSONEncodeError included
        return False


# -- work-tree parse cache (see the module docstring) -----------------------------------------------

Stamp = list[int]  # [size, mtime_ns, ctime_ns, inode, device], a list because that is what JSON gives back


class _ParseCache:
    """The parsed documents of one app directory's YAML files, by file, from the last run that stored them."""

    def __init__(self, path: Path, entries: dict[str, Any]) -> None:
        self.path = path
        self.old = entries  # file → [stamp, docs], as read; may hold anything (a corrupt file)
        self.new: dict[str, list[Any]] = {}
        self.stored_new = False
        # Taken before any file is looked at, so a file changed while this run reads it is "recent".
        self.settled_before = time.time_ns() - RACY_WINDOW_NS

    @classmethod
    def open(cls, app_dir: Path, d: Directory) -> _ParseCache:
        path = worktree_cache_path(app_dir, d)
        return cls(path, _read_entries(path))

    def docs(self, f: Path, origin: str) -> list[Any]:
        if f.suffix == ".json":
            return _parse(f, origin)  # orjson reads the file as fast as it would read the cache
        st = f.stat()
        stamp: Stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        settled = max(st.st_mtime_ns, st.st_ctime_ns) < self.settled_before
        key = str(f)
        hit = self.old.get(key)
        if settled and _is_entry(hit) and hit[0] == stamp:
            self.new[key] = hit
            return hit[1]
        docs = _parse(f, origin)  # raises on invalid YAML: nothing of a failed parse is stored
        if settled and _json_exact(docs):
            self.new[key] = [stamp, docs]
            self.stored_new = True
        return docs

    def save(self) -> None:
        """Rewrite the cache file if an entry was added, replaced or dropped."""
        if not self.stored_new and self.new.keys() == self.old.keys():
            return
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps({"version": WORKTREE_CACHE_VERSION, "files": self.new}))
            tmp.replace(self.path)  # atomic: a concurrent run reads the old file or this one, whole
        except OSError:  # a read-only or full cache directory costs speed, never the run
            tmp.unlink(missing_ok=True)


def worktree_cache_path(app_dir: Path, d: Directory) -> Path:
    key = hashlib.sha256("\0".join([WORKTREE_CACHE_VERSION, str(app_dir), repr(d)]).encode()).hexdigest()
    return cache_dir("worktree", key[:2], f"{key}.json")


def _read_entries(path: Path) -> dict[str, Any]:
    """The cache file's entries; an absent, unreadable, corrupt or other-version file is an empty cache."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != WORKTREE_CACHE_VERSION:
        return {}
    files = doc.get("files")
    return files if isinstance(files, dict) else {}


def _is_entry(entry: Any) -> TypeGuard[list[Any]]:
    return isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list)
