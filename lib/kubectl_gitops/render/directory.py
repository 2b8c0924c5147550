"""A directory of YAML/JSON manifest files (Argo CD's "directory" source type).

A git tree's render is cached whole by the render cache (its key is the directory's tree id). A work
tree has no ids, yet parsing its YAML is most of a no-change diff or sync (libyaml scans fast, PyYAML
builds the Python objects slowly: ~0.15-0.3 s per 1,000 files). So a work tree's parsed YAML documents
are kept in one file per app directory and Directory options, each file's keyed by its path and (size,
mtime, ctime, inode, device); ctime because `touch -d` or tar can set mtime back, never ctime. The
listing is made afresh and validation runs on every run. A file whose mtime or ctime is within
RACY_WINDOW_NS of the run's start is parsed and not stored: a second edit in the same timestamp tick
would leave its stat unchanged ("racy git"). Documents JSON cannot hold exactly (dates, non-string keys,
…) are not stored either, nor a file holding a Secret (its data never goes to disk): those are parsed
again on every run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import orjson

from kubectl_gitops import yamlio
from kubectl_gitops.apps import MANIFEST_SUFFIXES
from kubectl_gitops.appsource import Directory
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import jsonnet, paths
from kubectl_gitops.render.cache import holds_secret, json_exact
from kubectl_gitops.render.manifest import Manifest, objects
from kubectl_gitops.trees import Tree, cache_dir, private_files

if TYPE_CHECKING:
    from kubectl_gitops.render import Request

RENDERED_SUFFIXES = (*MANIFEST_SUFFIXES, jsonnet.SUFFIX)
READ_SUFFIXES = (*RENDERED_SUFFIXES, ".libsonnet")  # libsonnet files are read when imported
WORKTREE_CACHE_VERSION = "1"  # bump when the parse cache's format or key changes
# A file changed this recently may change again without its stat showing it: timestamps have a
# resolution (2 s for FAT's mtime), and a network filesystem's clock may be a little off ours.
RACY_WINDOW_NS = 2_000_000_000


class DirectoryRenderer:
    name = "directory"

    def claims(self, req: Request) -> bool:
        return True  # the fallback: Argo CD's default source type

    def cache_key(self, req: Request) -> list[str] | None:
        assert req.tree is not None
        app_id = req.tree.subtree_id(req.path)
        if app_id is None:
            return None  # a work tree: files may have local edits (its parse cache is used instead)
        if any(f.suffix == jsonnet.SUFFIX for f in _manifest_files(req.app_dir.resolve(), req.source.directory)):
            # Jsonnet may import any file of the repository: the whole tree is the input.
            return [app_id, repr(req.source.directory), req.tree.tree_id or ""]
        return [app_id, repr(req.source.directory)]

    def render(self, req: Request) -> list[Manifest]:
        assert req.tree is not None
        tree, d = req.tree, req.source.directory
        app_dir = req.app_dir.resolve()
        files = _manifest_files(app_dir, d)
        paths.confine_files(tree, files, "manifest", req.label)
        out = _render_files(app_dir, files, d, tree.display, parse_cache=tree.tree_id is None,
                            evaluate=lambda f: jsonnet.evaluate(tree, f, d.jsonnet, req.label))
        if not out:
            unread = [rel for rel, _ in _files(app_dir, d.recurse)
                      if not rel.endswith(READ_SUFFIXES) and not any(p.startswith(".") for p in rel.split("/"))]
            if unread:
                raise GitopsError(f"{req.label}: {tree.display(app_dir)} renders nothing, and no renderer reads "
                                  f"its files ({', '.join(unread[:3])}{', …' if len(unread) > 3 else ''})",
                                  hint="a directory app reads *.yaml, *.yml, *.json and *.jsonnet; a Helm chart "
                                       "needs Chart.yaml, Kustomize a kustomization.yaml")
        return out


def render_directory(app_dir: Path, d: Directory, display: Callable[[Path], str] = str,
                     parse_cache: bool = False) -> list[Manifest]:
    """`parse_cache`: reuse the documents parsed by an earlier run from files that did not change."""
    tree = Tree(root=app_dir, tree_id=None, label=str(app_dir))
    return _render_files(app_dir, _manifest_files(app_dir, d), d, display, parse_cache,
                         evaluate=lambda f: jsonnet.evaluate(tree, f, d.jsonnet, str(app_dir)))


def _render_files(app_dir: Path, files: list[Path], d: Directory, display: Callable[[Path], str],
                  parse_cache: bool, evaluate: Callable[[Path], list[Any]]) -> list[Manifest]:
    cache = _ParseCache.open(app_dir, d) if parse_cache else None
    out: list[Manifest] = []
    for f in files:
        origin = display(f)
        if f.suffix == jsonnet.SUFFIX:  # evaluated every time: imports have no cheap key in a work tree
            docs = evaluate(f)
        elif cache:
            docs = cache.docs(f, origin)
        else:
            docs = _parse(f, origin)
        out.extend(Manifest(o, origin) for o in objects(docs, origin))
    if cache:
        cache.save()  # only after every file parsed and validated: a failed run leaves the old cache
    return out


def _parse(f: Path, origin: str) -> list[Any]:
    return yamlio.load_documents(f.read_bytes(), origin, is_json=f.suffix == ".json")


def _manifest_files(app_dir: Path, d: Directory) -> list[Path]:
    picked = []
    for rel, f in _files(app_dir, d.recurse):
        # endswith is Path.suffix here: a name that is all suffix starts with a dot, skipped anyway
        if not rel.endswith(RENDERED_SUFFIXES) or any(part.startswith(".") for part in rel.split("/")):
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
            return _parse(f, origin)  # JSON parses about as fast as the cache file would read
        st = f.stat()
        stamp: Stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        settled = max(st.st_mtime_ns, st.st_ctime_ns) < self.settled_before
        key = str(f)
        hit = self.old.get(key)
        if settled and _is_entry(hit) and hit[0] == stamp:
            self.new[key] = hit
            return hit[1]
        docs = _parse(f, origin)  # raises on invalid YAML: nothing of a failed parse is stored
        if settled and json_exact(docs) and not holds_secret(docs):
            self.new[key] = [stamp, docs]
            self.stored_new = True
        return docs

    def save(self) -> None:
        """Rewrite the cache file if an entry was added, replaced or dropped."""
        if not self.stored_new and self.new.keys() == self.old.keys():
            return
        tmp = self.path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        try:
            with private_files:
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
