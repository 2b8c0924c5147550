"""Every git operation `git promote` makes, through pygit2 (libgit2); nothing shells out to git.

Files are read from the HEAD commit, not the work tree: what is committed is what gets deployed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType, FileStatus, SortMode

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


@dataclass(frozen=True)
class Committed:
    id: str
    branch: str  # short name, e.g. main

    @property
    def short_id(self) -> str:
        return self.id[:7]


class _PushCallbacks(pygit2.RemoteCallbacks):
    """Collects per-ref rejections: libgit2's push() succeeds even when the remote refuses a ref."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: dict[str, str] = {}
        self.remote_output: list[str] = []
        self._asked = False

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def sideband_progress(self, string: str) -> None:
        self.remote_output.append(string)

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> pygit2.credentials.Keypair:
        # Offer the ssh agent once; asking again would loop forever on a key the server refuses.
        if allowed_types & CredentialType.SSH_KEY and os.environ.get("SSH_AUTH_SOCK") and not self._asked:
            self._asked = True
            return pygit2.KeypairFromAgent(username_from_url or "git")
        raise pygit2.Passthrough


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

    def commit(self, files: dict[str, bytes], message: str, *, base: pygit2.Commit,
               branch: str | None) -> Committed:
        """Commit `files` on top of `base`, the commit they were computed from, on HEAD's branch or on
        a new `branch` that is then checked out.

        The branch moves only if it still points at `base` (libgit2 compares and swaps under the ref's
        lock); otherwise nothing is written. The work tree and index are updated for these files
        only, so other local changes stay.
        """
        author, committer = self.signatures()
        index = pygit2.Index()  # in memory: the user's staged changes are not part of this commit
        index.read_tree(base.tree)
        for path, data in files.items():
            # only files of HEAD are ever edited, so each keeps its mode (e.g. 100644)
            index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), base.tree[path].filemode))
        tree = index.write_tree(self.repo)
        ref = f"refs/heads/{branch}" if branch else self.repo.head.name
        try:
            if branch:  # created only if it still does not exist, or another run's branch is kept
                oid = self.repo.create_commit(None, author, committer, message, tree, [base.id])
                self._create_branch(ref, oid, message)
            else:
                oid = self.repo.create_commit(ref, author, committer, message, tree, [base.id])
        except (pygit2.GitError, OSError) as e:
            # Another commit landed first, or another process holds the ref's lock to make one.
            if "lock" in str(e) or "not the first parent" in str(e):
                raise _head_moved(base) from None
            self.check_head(base)
            raise GitopsError(f"cannot commit on {ref}: {e}") from None
        if branch:
            self.repo.set_head(ref)
        try:
            self._write_workdir(files)
        except (pygit2.GitError, OSError) as e:  # e.g. index.lock held by a git command running now
            raise GitopsError(f"committed {str(oid)[:7]} on {ref}, but could not update the work tree: {e}",
                              hint=f"run `git checkout HEAD -- {' '.join(files)}`") from None
        return Committed(str(oid), ref.removeprefix("refs/heads/"))

    def _create_branch(self, ref: str, oid: pygit2.Oid, message: str) -> None:
        try:
            self.repo.create_reference_direct(ref, oid, False, message=f"commit: {message.splitlines()[0]}")
        except (pygit2.AlreadyExistsError, ValueError):
            raise GitopsError(f"branch {ref.removeprefix('refs/heads/')} already exists",
                              hint="choose another --branch name") from None

    def check_head(self, base: pygit2.Commit) -> None:
        """Refuse when HEAD is no longer `base`: what was computed from it may be stale."""
        try:
            moved = self.head().id != base.id
        except (pygit2.GitError, OSError):
            moved = True
        if moved:
            raise _head_moved(base)

    def _write_workdir(self, files: dict[str, bytes]) -> None:
        index = self.repo.index
        index.read()
        for path, data in files.items():
            (self.workdir / path).write_bytes(data)
            index.add(path)
        index.write()

    def signatures(self) -> tuple[pygit2.Signature, pygit2.Signature]:
        """Author and committer, as git would pick them."""
        try:
            default = self.repo.default_signature
        except (KeyError, pygit2.GitError):
            default = None
        # git's own environment overrides, which CI jobs often set instead of git config.
        signatures = []
        for role in ("AUTHOR", "COMMITTER"):
            name = os.environ.get(f"GIT_{role}_NAME") or (default.name if default else None)
            email = os.environ.get(f"GIT_{role}_EMAIL") or (default.email if default else None)
            if not name or not email:
                raise GitopsError("no committer identity: set user.name and user.email in git config")
            signatures.append(pygit2.Signature(name, email))
        return signatures[0], signatures[1]

    def push(self, remote: str, branch: str) -> None:
        """Push `branch` to the same name on `remote`; a ref the remote refuses is an error."""
        ref = f"refs/heads/{branch}"
        callbacks = _PushCallbacks()
        try:
            self.repo.remotes[remote].push([f"{ref}:{ref}"], callbacks=callbacks)
        except pygit2.GitError as e:
            raise GitopsError(f"push of {branch} to {remote} failed: {e}",
                              hint=f"the commit stays on {branch} locally; retry with git push") from None
        if ref in callbacks.rejected:
            said = "; ".join(line.strip() for line in "".join(callbacks.remote_output).splitlines()
                             if line.strip())
            raise GitopsError(f"{remote} rejected {branch}: {callbacks.rejected[ref]}"
                              + (f" (remote: {said})" if said else ""),
                              hint=f"the commit stays on {branch} locally; fix the cause, then git push")

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


def _head_moved(base: pygit2.Commit) -> GitopsError:
    return GitopsError(f"HEAD moved, retry: the change was computed on {str(base.id)[:7]}, "
                       "and another commit landed on the branch meanwhile",
                       hint="nothing was written; run the command again to compute on top of it")


def _blob_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None
