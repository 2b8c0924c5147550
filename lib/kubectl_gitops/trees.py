"""Trees on disk that renders read: a git tree is written once per content id into the per-user cache
(never a symlink that leads out of it), and what the cache writes is private to the user."""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Tree:
    """A directory tree to render from. `root` is on disk; `tree_id` is set when the content is a
    git tree (so renders can be cached by content), None for a work tree with local edits."""

    root: Path
    tree_id: str | None
    label: str  # for messages: "work tree", "rev abc1234", "https://…@main"
    repo: object | None = None  # pygit2.Repository when tree_id is set
    # Symlinks of a git tree that point outside it, not written to disk (repository paths).
    escapes: frozenset[str] = frozenset()
    commit: str | None = None  # the commit it is (a work tree: the commit checked out), for app records

    def display(self, path: Path) -> str:
        """How messages name a file of this tree: for a git tree its path in the repository, not the
        cache directory the tree is materialized in."""
        return str(path) if self.tree_id is None else Path(os.path.relpath(path, self.root)).as_posix()

    def subtree_id(self, path: str) -> str | None:
        """The git id of `path` (a dir or file) in this tree, for cache keys."""
        if self.tree_id is None or self.repo is None:
            return None
        tree = self.repo[self.tree_id]  # type: ignore[index]
        rel = str(PurePosixPath(path)).strip("/")
        if rel in ("", "."):
            return self.tree_id
        try:
            return str(tree[rel].id)
        except KeyError:
            return None


def cache_dir(*parts: str) -> Path:
    """A path in the per-user cache. The cache holds repository content (Secrets in Git too), so
    its root is made the user's only (0700), an older, wider one tightened."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubectl-gitops"
    _make_private(str(base))
    return base.joinpath(*parts)


@functools.cache
def _make_private(base: str) -> None:
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        if os.stat(base).st_mode & 0o077:
            os.chmod(base, 0o700)
    except OSError:  # a read-only or foreign cache costs speed, never the run; writes will say so
        pass


class _PrivateFiles:
    """While held, files and directories created (by us or libgit2) are 0600/0700.

    umask is per process: holders are counted so that overlapping holders in threads restore the
    user's umask only when the last one leaves (anything created meanwhile is private, never wider).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._user_umask = 0

    def __enter__(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._user_umask = os.umask(0o077)
            self._holders += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                os.umask(self._user_umask)


private_files = _PrivateFiles()


def materialize(repo: object, tree_id: str, label: str, commit: str | None = None) -> Tree:
    """Write a git tree to a content-addressed cache dir once; reused by every later run.

    A symlink whose target leaves the tree (absolute, or `..` past its root) is not created: its
    repository path goes into `<tree_id>.escapes.json` next to the tree, and renders refuse to read
    through it. A tree without that file was written by an older version and is written again.
    """
    dest = cache_dir("trees", tree_id)
    record = dest.with_name(f"{tree_id}.escapes.json")
    if dest.exists() and not record.exists():
        rmtree(dest)
    if not dest.exists():
        tmp = dest.with_name(f"{tree_id}.tmp{os.getpid()}")
        escapes: list[str] = []
        links: list[PurePosixPath] = []
        with private_files:
            _write_tree(repo, repo[tree_id], tmp, PurePosixPath(), escapes, links)  # type: ignore[index]
            escapes += _drop_escaping_links(tmp, links)
            tmp_record = record.with_name(f"{record.name}.tmp{os.getpid()}")
            tmp_record.write_text(json.dumps(sorted(escapes)))
        tmp_record.replace(record)
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race; theirs is identical
            rmtree(tmp)
    return Tree(root=dest, tree_id=tree_id, label=label, repo=repo, commit=commit,
                escapes=frozenset(json.loads(record.read_text())))


def _write_tree(repo: object, tree: object, dest: Path, rel: PurePosixPath, escapes: list[str],
                links: list[PurePosixPath]) -> None:
    import pygit2

    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:  # type: ignore[attr-defined]
        path = dest / entry.name
        if entry.type_str == "tree":
            _write_tree(repo, repo[entry.id], path, rel / entry.name, escapes, links)  # type: ignore[index]
        elif entry.type_str == "blob":
            blob = repo[entry.id]  # type: ignore[index]
            if entry.filemode == pygit2.GIT_FILEMODE_LINK:
                target = blob.data.decode(errors="replace")
                if _link_stays_inside(rel, target):
                    path.symlink_to(target)
                    links.append(rel / entry.name)
                else:
                    escapes.append(str(rel / entry.name))
            else:
                path.write_bytes(blob.data)


def _drop_escaping_links(root: Path, links: list[PurePosixPath]) -> list[str]:
    """Links that leave the tree only through another link (`a -> b/..` with `b -> .`): removed."""
    real_root = os.path.realpath(root)
    dropped: list[str] = []
    for rel in links:
        real = os.path.realpath(root / rel)
        if real != real_root and not real.startswith(real_root + os.sep):
            (root / rel).unlink()
            dropped.append(str(rel))
    return dropped


def _link_stays_inside(link_dir: PurePosixPath, target: str) -> bool:
    """Does a symlink in `link_dir` (relative to the tree root) with this target stay in the tree?"""
    if target.startswith("/") or "\0" in target:
        return False
    depth = len(link_dir.parts)
    for part in PurePosixPath(target).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return False
    return True


def rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
