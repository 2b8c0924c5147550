"""Where desired state comes from: the local work tree, a revision of the local repo read straight
from the object database, or a remote repository fetched into a per-user cache. pygit2 only."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubectl_gitops.apps import App
from kubectl_gitops.appsource import Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.repourl import RepoURL
from kubectl_gitops.trees import Tree, cache_dir, materialize, private_files, rmtree

if TYPE_CHECKING:
    import pygit2


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
    candidates = [rev] if rev not in ("", "HEAD") else ["HEAD"]
    if rev and rev != "HEAD":
        candidates += [f"origin/{rev}", f"refs/tags/{rev}"]
    return _first_revision(repo, candidates, f"{where}: unknown revision {rev!r}")


def _first_revision(repo: object, candidates: list[str], unknown: str) -> tuple[str, str | None]:
    """(tree id, commit id) of the first candidate the repository resolves."""
    import pygit2

    for cand in candidates:
        try:
            obj = repo.revparse_single(cand)  # type: ignore[attr-defined]
            return str(obj.peel(pygit2.Tree).id), _commit_of(obj)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue
    raise GitopsError(unknown)


def _commit_of(obj: object) -> str | None:
    import pygit2

    try:
        return str(obj.peel(pygit2.Commit).id)  # type: ignore[attr-defined]
    except (ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None  # a tree named by its own id


def clone_key(url: RepoURL) -> str:
    """Repositories that differ in scheme or credentials never share a cached clone: a fetch with one
    user's credentials must not serve an Application that names none, or another's."""
    scheme = url.shown.partition("://")[0] if "://" in url.shown else "scp"
    ident = "\0".join(["2", scheme, normalize_url(url.shown), url.username or "", url.password or ""])
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def fetch_remote(url: str, revision: str) -> Tree:
    """A bare clone per URL (and credentials) in the cache, fetched on every use, then `revision`
    resolved in it.

    Credentials: the URL's own, GIT_USERNAME/GIT_PASSWORD (or GIT_TOKEN) from the environment, or the
    SSH agent for ssh URLs; given to this fetch only, never stored.
    """
    import pygit2

    repo_url = RepoURL.parse(url)
    _drop_legacy_clones(str(cache_dir("repos")))
    path = cache_dir("repos", f"{clone_key(repo_url)}.git")
    try:
        with private_files:
            repo = pygit2.Repository(str(path)) if path.exists() else pygit2.init_repository(str(path), bare=True)
            # An anonymous remote: the URL is not written to the repository's config.
            repo.remotes.create_anonymous(repo_url.fetch).fetch(
                ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                 "+HEAD:refs/remotes/origin/HEAD"], callbacks=_credentials(repo_url))
    except pygit2.GitError as e:
        raise GitopsError(f"cannot fetch {repo_url.shown}: {_without_secrets(str(e), repo_url)}") from None
    tree_id, commit = _resolve_remote_rev(repo, revision, repo_url.shown)
    return materialize(repo, tree_id, label=f"{repo_url.shown}@{revision or 'HEAD'}", commit=commit)


@functools.cache
def _drop_legacy_clones(repos: str) -> None:
    """Clones cached by earlier builds kept a repoURL's password in their config: remove them (their
    names are 24 hex digits; today's are 32)."""
    for old in Path(repos).glob("?" * 24 + ".git"):
        if re.fullmatch(r"[0-9a-f]{24}\.git", old.name):
            rmtree(old)


def _without_secrets(message: str, url: RepoURL) -> str:
    for secret in (url.password, os.environ.get("GIT_PASSWORD"), os.environ.get("GIT_TOKEN")):
        if secret:
            message = message.replace(secret, "***")
    return message


def fetch_release(url: str, tag: str | None, subdir: str) -> tuple[Tree, str]:
    """`subdir` of one release tag of `url` (the highest vX.Y.Z tag the remote has, without `tag`).

    Only that tag's commit is fetched (depth 1), into a cache repository of its own, so a large project
    costs one snapshot, not its history.
    """
    import pygit2

    key = hashlib.sha256(normalize_url(url).encode()).hexdigest()[:24]
    path = cache_dir("releases", f"{key}.git")
    try:
        repo = pygit2.Repository(str(path)) if path.exists() else pygit2.init_repository(str(path), bare=True)
        remote = repo.remotes["origin"] if "origin" in repo.remotes.names() else repo.remotes.create("origin", url)
        callbacks = _credentials(RepoURL.parse(url))
        if tag is None:
            tag = _latest_release([h.name for h in remote.list_heads(callbacks=callbacks) if h.name], url)
        remote.fetch([f"+refs/tags/{tag}:refs/tags/{tag}"], callbacks=_credentials(RepoURL.parse(url)), depth=1)
    except pygit2.GitError as e:
        raise GitopsError(f"cannot fetch {tag or 'the release tags'} from {url}: {e}") from None
    if f"refs/tags/{tag}" not in repo.references:
        raise GitopsError(f"{url}: has no release tag {tag}", hint="name an existing release with --version")
    tree_id, commit = _resolve_remote_rev(repo, tag, url)
    root = repo[tree_id]
    assert isinstance(root, pygit2.Tree)
    try:
        sub = root[subdir]
    except KeyError:
        raise GitopsError(f"{url}@{tag}: has no {subdir}/") from None
    if sub.type_str != "tree":
        raise GitopsError(f"{url}@{tag}: {subdir} is not a directory")
    return materialize(repo, str(sub.id), label=f"{url}@{tag}:{subdir}", commit=commit), tag


def _latest_release(refs: list[str], url: str) -> str:
    versions = [(tuple(int(n) for n in m.groups()), m.group(0)) for r in refs
                if (m := re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", r.removeprefix("refs/tags/")))]
    if not versions:
        raise GitopsError(f"{url}: no release tags (vMAJOR.MINOR.PATCH)", hint="name one with --version")
    return max(versions)[1]


def _resolve_remote_rev(repo: object, rev: str, url: str) -> tuple[str, str | None]:
    rev = rev or "HEAD"
    return _first_revision(repo, [f"refs/remotes/origin/{rev}", f"refs/tags/{rev}", f"refs/heads/{rev}", rev],
                           f"{url}: unknown revision {rev!r}")


def _credentials(repo_url: RepoURL) -> pygit2.RemoteCallbacks:
    """pygit2 RemoteCallbacks for one fetch, built lazily (pygit2 is imported only when one happens)."""
    import pygit2

    class Callbacks(pygit2.RemoteCallbacks):
        tried = False

        def credentials(self, url: str, username_from_url: str | None,
                        allowed: pygit2.enums.CredentialType) -> pygit2.UserPass | pygit2.Keypair:
            if self.tried:  # libgit2 asks again when the server refused: it will not change its mind
                raise pygit2.GitError(f"authentication to {repo_url.shown} failed")
            self.tried = True
            user = repo_url.username or os.environ.get("GIT_USERNAME") or username_from_url or "git"
            secret = repo_url.password or os.environ.get("GIT_PASSWORD") or os.environ.get("GIT_TOKEN")
            if secret is None and repo_url.username:
                secret = ""  # https://TOKEN@host: the token is the user name, as git sends it
            if allowed & pygit2.enums.CredentialType.USERPASS_PLAINTEXT and secret is not None:
                return pygit2.UserPass(user, secret)
            if allowed & pygit2.enums.CredentialType.SSH_KEY:
                return pygit2.KeypairFromAgent(username_from_url or "git")
            raise pygit2.GitError(f"no credentials for {repo_url.shown}: set GIT_USERNAME/GIT_PASSWORD, "
                                  "put them in the repoURL, or use an SSH agent")

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

    def tree_for(self, app: App, source: Source) -> tuple[Tree | None, str]:
        """The tree `source` renders from and its path there; no tree for a chart from a Helm repository."""
        if source.chart:
            return None, ""
        pinned = self.pins.get(app.name)
        if pinned:
            return self._pinned(app, source, pinned)
        if app.is_plain_dir:
            p = Path(source.path).resolve()
            if self.revision:
                return self._local_rev(), os.path.relpath(p, self._local_rev().root)
            if self.local is not None and self.local.workdir in (p, *p.parents):
                return self.local.work_tree(), os.path.relpath(p, self.local.workdir)
            # Not in a repository: a directory the user named on disk, with nothing around it to stay in.
            return Tree(root=Path(p.anchor), tree_id=None, label="work tree"), str(p)
        url = source.repo_url
        if self.local is not None and self.local.matches(url):
            # --revision wins; else the Application's targetRevision: the work tree when that is
            # what is checked out (uncommitted edits included), otherwise read from the object database.
            rev = self.revision or source.target_revision
            if not self.revision and self.local.is_checked_out(rev):
                return self.local.work_tree(), source.path
            return self._local_rev(rev), source.path
        rev = source.target_revision
        if (url, rev) not in self._trees:
            self._trees[(url, rev)] = fetch_remote(url, rev)
        return self._trees[(url, rev)], source.path

    def _pinned(self, app: App, source: Source, commit: str) -> tuple[Tree, str]:
        if app.is_plain_dir or (self.local is not None and self.local.matches(source.repo_url)):
            if self.local is None:
                raise GitopsError(f"app {app.name}: {source.path} is not in a git repository, so it "
                                  f"cannot be read at commit {commit}")
            tree = self._local_rev(commit)
            if app.is_plain_dir:
                return tree, os.path.relpath(Path(source.path).resolve(), self.local.workdir)
            return tree, source.path
        key = (source.repo_url, commit)
        if key not in self._trees:
            self._trees[key] = fetch_remote(source.repo_url, commit)
        return self._trees[key], source.path

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
