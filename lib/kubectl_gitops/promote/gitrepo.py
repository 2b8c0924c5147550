"""The repository `git promote` works in, read through pygit2 (libgit2; nothing shells out to git):
HEAD and its files, the work tree's status, the checks before a commit, and history for rollback.
What it writes is in gitwrite.py.

Files are read from the HEAD commit, not the work tree: what is committed is what gets deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus, SortMode

from kubectl_gitops.errors import GitopsError


@dataclass(frozen=True)
class CommitTree:
    """A commit's files, as the `layout.Tree` protocol wants them."""

    tree: pygit2.Tree

    def _object(self, path: str) -> pygit2.Object | None:
        if not path:
            return self.tree
        try:
            return self.tree[path]
        except KeyError:
            return None

    def subdirs(self, path: str) -> list[str]:
        obj = self._object(path)
        return [e.name for e in obj if e.type_str == "tree" and e.name] if isinstance(obj, pygit2.Tree) else []

    def files(self, path: str) -> list[str]:
        obj = self._object(path)
        return [e.name for e in obj if e.type_str == "blob" and e.name] if isinstance(obj, pygit2.Tree) else []

    def read(self, path: str) -> bytes | None:
        obj = self._object(path)
        return obj.data if isinstance(obj, pygit2.Blob) else None


class GitRepo:
    def __init__(self, start: Path) -> None:
        found = pygit2.discover_repository(str(start))
        if found is None:
            raise GitopsError(f"{start} is not in a git repository")
        self.repo = pygit2.Repository(found)
        if self.repo.is_bare or self.repo.workdir is None:
            raise GitopsError(f"{found} is a bare repository; run git promote in a checkout")

    @property
    def workdir(self) -> Path:
        return Path(self.repo.workdir)

    def head(self) -> pygit2.Commit:
        if self.repo.head_is_unborn:
            raise GitopsError(f"{self.workdir} has no commits yet")
        return self.repo.head.peel(pygit2.Commit)

    def tree(self, commit: pygit2.Commit) -> CommitTree:
        return CommitTree(commit.tree)

    def current_branch(self) -> str | None:
        """The checked-out branch's short name; None when HEAD is detached."""
        return None if self.repo.head_is_detached else self.repo.head.shorthand

    def is_dirty(self, path: str) -> bool:
        """Staged or unstaged changes to `path`, compared with HEAD."""
        try:
            return bool(self.repo.status_file(path) & ~FileStatus.IGNORED)
        except KeyError:  # in neither HEAD, index nor work tree
            return False

    def check_new_branch(self, name: str) -> None:
        if not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
            raise GitopsError(f"{name!r} is not a valid branch name")
        if self.repo.lookup_branch(name) is not None:
            raise GitopsError(f"branch {name} already exists", hint="choose another --branch name")

    def check_remote(self, name: str) -> None:
        known = [r.name for r in self.repo.remotes if r.name]
        if name not in known:
            raise GitopsError(f"no remote named {name!r}; known: {', '.join(known) or 'none'}")

    def check_head(self, base: pygit2.Commit) -> None:
        """Refuse when HEAD is no longer `base`: what was computed from it may be stale."""
        try:
            moved = self.head().id != base.id
        except (pygit2.GitError, OSError):
            moved = True
        if moved:
            raise head_moved(base)

    def history(self) -> Iterator[pygit2.Commit]:
        """Commits reachable from HEAD, newest first."""
        yield from self.repo.walk(self.head().id, SortMode.TOPOLOGICAL | SortMode.TIME)

    def changed(self, commit: pygit2.Commit, paths: Iterable[str]) -> set[str]:
        """Which of `paths` `commit` changed compared with its first parent."""
        parent = commit.parents[0].tree if commit.parents else None
        return {p for p in paths if _blob_id(commit.tree, p) != (_blob_id(parent, p) if parent else None)}

    def revert(self, commit: pygit2.Commit, paths: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
        """Contents of `paths` with `commit` reverted on top of HEAD, and the paths that conflict."""
        index = self.repo.revert_commit(commit, self.head())
        conflicted = {e.path for c in (index.conflicts or ()) for e in c if e is not None}
        files = {p: self.repo[index[p].id].read_raw() for p in paths if p not in conflicted and p in index}
        return files, sorted(conflicted.intersection(paths))

    def last_change(self, path: str, since: pygit2.Commit) -> pygit2.Commit | None:
        """The newest commit after `since` that changed `path`."""
        for commit in self.history():
            if commit.id == since.id:
                return None
            if self.changed(commit, [path]):
                return commit
        return None


def head_moved(base: pygit2.Commit) -> GitopsError:
    return GitopsError(f"HEAD moved, retry: the change was computed on {str(base.id)[:7]}, "
                       "and another commit landed on the branch meanwhile",
                       hint="nothing was written; run the command again to compute on top of it")


def _blob_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None
