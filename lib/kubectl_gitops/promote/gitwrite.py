"""What `git promote` writes, through pygit2: the commit (its branch moved by compare-and-swap, or a
new branch created), the edited files' copies in the work tree and index, and the push.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pygit2
from pygit2.enums import CredentialType

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.gitrepo import GitRepo, head_moved


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


def commit(repo: GitRepo, files: dict[str, bytes], message: str, *, base: pygit2.Commit,
           branch: str | None) -> Committed:
    """Commit `files` on top of `base`, the commit they were computed from, on HEAD's branch or on
    a new `branch` that is then checked out.

    The branch moves only if it still points at `base` (libgit2 compares and swaps under the ref's
    lock); otherwise nothing is written. The work tree and index are updated for these files
    only, so other local changes stay.
    """
    author, committer = signatures(repo)
    index = pygit2.Index()  # in memory: the user's staged changes are not part of this commit
    index.read_tree(base.tree)
    for path, data in files.items():
        # only files of HEAD are ever edited, so each keeps its mode (e.g. 100644)
        index.add(pygit2.IndexEntry(path, repo.repo.create_blob(data), base.tree[path].filemode))
    tree = index.write_tree(repo.repo)
    ref = f"refs/heads/{branch}" if branch else repo.repo.head.name
    try:
        if branch:  # created only if it still does not exist, or another run's branch is kept
            oid = repo.repo.create_commit(None, author, committer, message, tree, [base.id])
            _create_branch(repo, ref, oid, message)
        else:
            oid = repo.repo.create_commit(ref, author, committer, message, tree, [base.id])
    except (pygit2.GitError, OSError) as e:
        # Another commit landed first, or another process holds the ref's lock to make one.
        if "lock" in str(e) or "not the first parent" in str(e):
            raise head_moved(base) from None
        repo.check_head(base)
        raise GitopsError(f"cannot commit on {ref}: {e}") from None
    if branch:
        repo.repo.set_head(ref)
    try:
        _write_workdir(repo, files)
    except (pygit2.GitError, OSError) as e:  # e.g. index.lock held by a git command running now
        raise GitopsError(f"committed {str(oid)[:7]} on {ref}, but could not update the work tree: {e}",
                          hint=f"run `git checkout HEAD -- {' '.join(files)}`") from None
    return Committed(str(oid), ref.removeprefix("refs/heads/"))


def _create_branch(repo: GitRepo, ref: str, oid: pygit2.Oid, message: str) -> None:
    """Create the branch only if it does not exist, deciding under the ref's lock: libgit2's create
    without force looks for the ref before it takes the lock, so two runs at once could both create it
    (the second overwriting the first, or both reporting the same commit)."""
    with repo.repo.transaction() as txn:  # a held lock raises GitError: another run is creating it
        txn.lock_ref(ref)
        if ref in repo.repo.references:
            raise GitopsError(f"branch {ref.removeprefix('refs/heads/')} already exists",
                              hint="choose another --branch name")
        txn.set_target(ref, oid, message=f"commit: {message.splitlines()[0]}")


def _write_workdir(repo: GitRepo, files: dict[str, bytes]) -> None:
    index = repo.repo.index
    index.read()
    for path, data in files.items():
        (repo.workdir / path).write_bytes(data)
        index.add(path)
    index.write()


def signatures(repo: GitRepo) -> tuple[pygit2.Signature, pygit2.Signature]:
    """Author and committer, as git would pick them."""
    try:
        default = repo.repo.default_signature
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


def push(repo: GitRepo, remote: str, branch: str) -> None:
    """Push `branch` to the same name on `remote`; a ref the remote refuses is an error."""
    ref = f"refs/heads/{branch}"
    callbacks = _PushCallbacks()
    try:
        repo.repo.remotes[remote].push([f"{ref}:{ref}"], callbacks=callbacks)
    except pygit2.GitError as e:
        raise GitopsError(f"push of {branch} to {remote} failed: {e}",
                          hint=f"the commit stays on {branch} locally; retry with git push") from None
    if ref in callbacks.rejected:
        said = "; ".join(line.strip() for line in "".join(callbacks.remote_output).splitlines()
                         if line.strip())
        raise GitopsError(f"{remote} rejected {branch}: {callbacks.rejected[ref]}"
                          + (f" (remote: {said})" if said else ""),
                          hint=f"the commit stays on {branch} locally; fix the cause, then git push")

