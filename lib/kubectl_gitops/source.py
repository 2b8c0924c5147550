"""Where desired state comes from: the local work tree, a revision of the local repo read straight
from the object database, or a remote repository fetched into a per-user cache. pygit2 only."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kubectl_gitops.apps import App
from kubectl_gitops.errors import GitopsError

if TYPE_CHECKING:
    import pygit2


@dataclass(frozen=True)
class Tree:
    """A directory tree to render from. `root` is on disk; `tree_id` is set when the content is a
    git tree (so renders can be cached by content), None for a work tree with local edits."""

    root: Path
    tree_id: str | None
    label: str  # for messages: "work tree", "rev abc1234", "https://…@main"
    repo: object | None = None  # pygit2.Repository when tree_id is set
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
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubectl-gitops"
    return base.joinpath(*parts)


@dataclass(frozen=True)
class LocalRepo:
    workdir: Path
    repo: object  # pygit2.Repository

    def remote_urls(self) -> list[str]:
        return [r.url for r in self.repo.remotes if r.url]  # type: ignore[attr-defined]

    def matches(self, url: str) -> bool:
        """Is `url` this repository? By its remotes, or a file:// URL or path to it."""
        if not url:
            return True
        want = normalize_url(url)
        if want in {normalize_url(u) for u in self.remote_urls()}:
            return True
        local = url.removeprefix("file://")
        return Path(local).expanduser().resolve() in {self.workdir.resolve(), Path(self.repo.path).resolve()}  # type: ignore[attr-defined]

    def work_tree(self) -> Tree:
        return Tree(root=self.workdir, tree_id=None, label="work tree", commit=self._head())

    def _head(self) -> str | None:
        import pygit2

        try:
            return str(self.repo.head.peel(pygit2.Commit).id)  # type: ignore[attr-defined]
        except pygit2.GitError:  # an unborn HEAD
            return None

    def is_checked_out(self, rev: str) -> bool:
        """Does `rev` name the commit checked out here (so the work tree, edits included, is it)?"""
        import pygit2

        if rev in ("", "HEAD"):
            return True
        try:
            head = self.repo.head.peel(pygit2.Commit).id  # type: ignore[attr-defined]
            return any(self._commit_id(c) == head for c in (rev, f"origin/{rev}", f"refs/tags/{rev}"))
        except pygit2.GitError:  # an unborn HEAD: nothing is checked out
            return False

    def _commit_id(self, rev: str) -> object:
        import pygit2

        try:
            return self.repo.revparse_single(rev).peel(pygit2.Commit).id  # type: ignore[attr-defined]
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def revision(self, rev: str) -> Tree:
        tree_id, commit = resolve_rev(self.repo, rev, str(self.workdir))
        return materialize(self.repo, tree_id, label=f"rev {rev}", commit=commit)


def open_local(start: Path) -> LocalRepo | None:
    """The git repository containing `start`, if any (works from `git worktree` checkouts too)."""
    if not _has_git_entry(start):
        return None  # a plain directory: skip importing pygit2 (~45 ms) altogether
    import pygit2

    found = pygit2.discover_repository(str(start))
    if not found:
        return None
    repo = pygit2.Repository(found)
    if repo.is_bare or repo.workdir is None:
        return None
    return LocalRepo(workdir=Path(repo.workdir).resolve(), repo=repo)


def _has_git_entry(start: Path) -> bool:
    """Is there a `.git` (a directory, or a file as in worktrees and submodules) in `start` or above?

    Only a cheap filter: pygit2 still decides what the entry is. The path is resolved first because
    git discovers from the real directory, not through the symlinks that lead to it; `lexists` so a
    dangling `.git` symlink is left to pygit2 too.
    """
    real = start.resolve()
    return any(os.path.lexists(d / ".git") for d in (real, *real.parents))


def normalize_url(url: str) -> str:
    """Compare repository URLs the way a person would: scheme, user, `.git` and case of host ignored."""
    u = url.strip()
    m = re.match(r"^[\w.-]+@([\w.-]+):(.*)$", u)  # scp-like git@host:path
    if m:
        u = f"{m.group(1)}/{m.group(2)}"
    u = re.sub(r"^[a-z+]+://", "", u)
    u = re.sub(r"^[^@/]+@", "", u)
    u = u.rstrip("/").removesuffix(".git")
    host, _, path = u.partition("/")
    return f"{host.lower()}/{path}"


def resolve_rev(repo: object, rev: str, where: str) -> tuple[str, str | None]:
    """(tree id, commit id) of a revision: a branch, tag, remote branch, sha or HEAD."""
    import pygit2

    candidates = [rev] if rev not in ("", "HEAD") else ["HEAD"]
    if rev and rev != "HEAD":
        candidates += [f"origin/{rev}", f"refs/tags/{rev}"]
    for cand in candidates:
        try:
            obj = repo.revparse_single(cand)  # type: ignore[attr-defined]
            return str(obj.peel(pygit2.Tree).id), _commit_of(obj)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue
    raise GitopsError(f"{where}: unknown revision {rev!r}")


def _commit_of(obj: object) -> str | None:
    import pygit2

    try:
        return str(obj.peel(pygit2.Commit).id)  # type: ignore[attr-defined]
    except (ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None  # a tree named by its own id


def materialize(repo: object, tree_id: str, label: str, commit: str | None = None) -> Tree:
    """Write a git tree to a content-addressed cache dir once; reused by every later run."""
    dest = cache_dir("trees", tree_id)
    if not dest.exists():
        tmp = dest.with_name(f"{tree_id}.tmp{os.getpid()}")
        _write_tree(repo, repo[tree_id], tmp)  # type: ignore[index]
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race; theirs is identical
            _rmtree(tmp)
    return Tree(root=dest, tree_id=tree_id, label=label, repo=repo, commit=commit)


def _write_tree(repo: object, tree: object, dest: Path) -> None:
    import pygit2

    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:  # type: ignore[attr-defined]
        path = dest / entry.name
        if entry.type_str == "tree":
            _write_tree(repo, repo[entry.id], path)  # type: ignore[index]
        elif entry.type_str == "blob":
            blob = repo[entry.id]  # type: ignore[index]
            if entry.filemode == pygit2.GIT_FILEMODE_LINK:
                path.symlink_to(blob.data.decode())
            else:
                path.write_bytes(blob.data)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def fetch_remote(url: str, revision: str) -> Tree:
    """A bare clone per URL in the cache, fetched on every use, then `revision` resolved in it.

    Credentials: the URL's own, GIT_USERNAME/GIT_PASSWORD (or GIT_TOKEN) from the environment, or the
    SSH agent for ssh URLs.
    """
    import pygit2

    key = hashlib.sha256(normalize_url(url).encode()).hexdigest()[:24]
    path = cache_dir("repos", f"{key}.git")
    try:
        if path.exists():
            repo = pygit2.Repository(str(path))
        else:
            repo = pygit2.init_repository(str(path), bare=True)
            repo.remotes.create("origin", url)
        repo.remotes["origin"].fetch(["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                                      "+HEAD:refs/remotes/origin/HEAD"], callbacks=_credentials())
    except pygit2.GitError as e:
        raise GitopsError(f"cannot fetch {url}: {e}") from None
    tree_id, commit = _resolve_remote_rev(repo, revision, url)
    return materialize(repo, tree_id, label=f"{url}@{revision or 'HEAD'}", commit=commit)


def _resolve_remote_rev(repo: object, rev: str, url: str) -> tuple[str, str | None]:
    import pygit2

    rev = rev or "HEAD"
    for cand in (f"refs/remotes/origin/{rev}", f"refs/tags/{rev}", f"refs/heads/{rev}", rev):
        try:
            obj = repo.revparse_single(cand)  # type: ignore[attr-defined]
            return str(obj.peel(pygit2.Tree).id), _commit_of(obj)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue
    raise GitopsError(f"{url}: unknown revision {rev!r}")


def _credentials() -> pygit2.RemoteCallbacks:
    """pygit2 RemoteCallbacks, built only when a fetch happens (pygit2 is imported lazily)."""
    import pygit2

    class Callbacks(pygit2.RemoteCallbacks):
        def credentials(self, url: str, username_from_url: str | None,
                        allowed: int) -> pygit2.UserPass | pygit2.Keypair:
            user = os.environ.get("GIT_USERNAME") or username_from_url or "git"
            secret = os.environ.get("GIT_PASSWORD") or os.environ.get("GIT_TOKEN")
            if allowed & pygit2.enums.CredentialType.USERPASS_PLAINTEXT and secret:
                return pygit2.UserPass(user, secret)
            if allowed & pygit2.enums.CredentialType.SSH_KEY:
                return pygit2.KeypairFromAgent(username_from_url or "git")
            raise pygit2.GitError(f"no credentials for {url}: set GIT_USERNAME/GIT_PASSWORD or use "
                                  "an SSH agent")

    return Callbacks()


# -- which tree each app renders from ------------------------------------------------------------

class Sources:
    """Maps each app to the tree it renders from; trees are shared across apps in one run."""

    def __init__(self, target: str, revision: str | None, pins: dict[str, str] | None = None) -> None:
        self.revision = revision
        self.pins = pins or {}  # app name -> the commit it renders at, whatever else is asked
        self.local: LocalRepo | None = open_local(Path(target).resolve() if Path(target).exists() else Path.cwd())
        self._trees: dict[tuple[str, str], Tree] = {}
        if revision and self.local is None:
            raise GitopsError(f"{target}: --revision needs a git repository, and this is not in one")

    def tree_for(self, app: App) -> tuple[Tree, str]:
        pinned = self.pins.get(app.name)
        if pinned:
            return self._pinned(app, pinned)
        if app.is_plain_dir:
            p = Path(app.source.path).resolve()
            if self.revision:
                return self._local_rev(), os.path.relpath(p, self._local_rev().root)
            return Tree(root=p, tree_id=None, label="work tree"), "."
        url = app.source.repo_url
        if self.local is not None and self.local.matches(url):
            # --revision wins; else the Application's targetRevision: the work tree when that is
            # what is checked out (uncommitted edits included), otherwise read from the object database.
            rev = self.revision or app.source.target_revision
            if not self.revision and self.local.is_checked_out(rev):
                return self.local.work_tree(), app.source.path
            return self._local_rev(rev), app.source.path
        rev = app.source.target_revision
        if (url, rev) not in self._trees:
            self._trees[(url, rev)] = fetch_remote(url, rev)
        return self._trees[(url, rev)], app.source.path

    def _pinned(self, app: App, commit: str) -> tuple[Tree, str]:
        if app.is_plain_dir or (self.local is not None and self.local.matches(app.source.repo_url)):
            if self.local is None:
                raise GitopsError(f"app {app.name}: {app.source.path} is not in a git repository, so it "
                                  f"cannot be read at commit {commit}")
            tree = self._local_rev(commit)
            if app.is_plain_dir:
                return tree, os.path.relpath(Path(app.source.path).resolve(), self.local.workdir)
            return tree, app.source.path
        key = (app.source.repo_url, commit)
        if key not in self._trees:
            self._trees[key] = fetch_remote(app.source.repo_url, commit)
        return self._trees[key], app.source.path

    def _local_rev(self, rev: str | None = None) -> Tree:
        rev = rev or self.revision
        assert self.local is not None and rev
        key = ("", rev)
        if key not in self._trees:
            self._trees[key] = self.local.revision(rev)
        return self._trees[key]

    def target_path(self, target: str) -> str:
        """With --revision, the target as it is in that revision (materialized in the cache)."""
        if not self.revision or self.local is None:
            return target
        p = Path(target).resolve()
        if not p.exists():  # an app name: look for it in that revision's apps/
            return target
        rel = os.path.relpath(p, self.local.workdir)
        mapped = self._local_rev().root / rel
        if not mapped.exists():
            raise GitopsError(f"{target}: does not exist at revision {self.revision}")
        return str(mapped)

    def display(self, path: Path) -> str:
        """Files read from --revision are named in messages by their path in the repository."""
        return self._local_rev().display(path) if self.revision and self.local is not None else str(path)

    def search_dirs(self) -> tuple[Path, ...]:
        if self.revision and self.local is not None:
            return (self._local_rev().root / os.path.relpath(Path.cwd() / "apps", self.local.workdir),)
        return (Path("apps"),)
