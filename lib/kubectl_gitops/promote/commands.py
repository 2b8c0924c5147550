"""One function per `git promote` command: read HEAD, decide, show the diff, commit, push.

Every refusal is raised before anything is written; each function returns the exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2

from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK, GitopsError
from kubectl_gitops.promote import gitwrite, messages
from kubectl_gitops.promote.gitrepo import CommitTree, GitRepo
from kubectl_gitops.promote.images import parse_spec
from kubectl_gitops.promote.layout import Layout, Target, load_layout
from kubectl_gitops.promote.output import Console
from kubectl_gitops.promote.plan import (
    FileEdit,
    PinnedFile,
    edits_for,
    formats,
    pin_changes,
    promotion_changes,
    set_image_changes,
)
from kubectl_gitops.promote.status import LastChange, Status, build_rows, render_json, render_table


@dataclass(frozen=True)
class Publish:
    """What to do with the edits: only show them, commit on a new branch, push."""

    dry_run: bool = False
    branch: str | None = None
    push: str | None = None  # remote name


@dataclass(frozen=True)
class _Checkout:
    repo: GitRepo
    head: pygit2.Commit  # everything is computed from this commit, and committed on top of it
    tree: CommitTree
    layout: Layout

    @classmethod
    def open(cls, cwd: Path) -> _Checkout:
        repo = GitRepo(cwd)
        head = repo.head()
        tree = repo.tree(head)
        return cls(repo, head, tree, load_layout(tree))

    def read(self, target: Target) -> list[PinnedFile]:
        found = formats(self.layout.image_keys)
        files = []
        for file in target.files:
            data = self.tree.read(file.path)
            assert data is not None  # the layout was discovered from this very tree
            files.append(PinnedFile.parse(target, file, found[file.kind], data))
        return files


def promote(cwd: Path, env: str, *, source: str | None, services: Sequence[str], images: Sequence[str],
            allow_latest: bool, publish: Publish, console: Console) -> int:
    co = _Checkout.open(cwd)
    target_env = co.layout.check_env(env)
    source_env = co.layout.check_env(source) if source else co.layout.previous(target_env)
    if source_env == target_env:
        raise GitopsError(f"cannot promote {target_env} into itself", hint="--from must name another environment")
    pairs = [(co.read(s), co.read(t)) for s, t in _pairs(co.layout, source_env, target_env, services)]
    for wanted in images:
        if not any(f.format.matches(p, wanted) for s, _ in pairs for f in s for p in f.pins):
            known = sorted({p.name for s, _ in pairs for f in s for p in f.pins})
            raise GitopsError(f"no image {wanted!r} in {source_env}", hint=f"images there: {', '.join(known)}")
    plans = [promotion_changes(s, t, images, allow_latest=allow_latest) for s, t in pairs]
    for note in (n for p in plans for n in p.notes):
        console.info(note)
    changes = [c for p in plans for c in p.changes]
    edits = edits_for([f for _, t in pairs for f in t], changes)
    if not edits:
        console.info(f"nothing to promote: {target_env} already has the images of {source_env}")
        return EXIT_CHANGED
    for f in (f for s, _ in pairs for f in s):
        if co.repo.is_dirty(f.path):
            console.info(f"note: {f.path} has uncommitted changes; promoting what is committed")
    return _publish(co, edits, messages.promotion(source_env, target_env, edits), publish, console)


def _pairs(layout: Layout, source: str, target: str, services: Sequence[str]) -> list[tuple[Target, Target]]:
    """(source, target) of the selected services; a named service must have both."""
    pairs = []
    for service in layout.select_services(services):
        s, t = layout.target(service, source), layout.target(service, target)
        if s and t:
            pairs.append((s, t))
        elif services:
            raise GitopsError(f"service {service} has no files for {target if s else source}")
    if not pairs:
        raise GitopsError(f"no service has files for both {source} and {target}")
    return pairs


def set_image(cwd: Path, specs: Sequence[str], *, env: str | None, services: Sequence[str],
              allow_latest: bool, publish: Publish, console: Console) -> int:
    co = _Checkout.open(cwd)
    env = co.layout.check_env(env) if env else co.layout.environments[0]
    wanted = [parse_spec(s) for s in specs]
    selected = co.layout.select_services(services)
    for service in services:
        if co.layout.target(service, env) is None:
            raise GitopsError(f"service {service} has no files for {env}")
    files = [f for t in co.layout.in_env(env) if t.service in selected for f in co.read(t)]
    changes = []
    for spec in wanted:
        if not services and not any(f.format.matches(p, spec.name) for f in files for p in f.pins):
            raise GitopsError(f"no file in {env} pins image {spec.name}",
                              hint="pass --service S to add it to that service's kustomization")
        changes += set_image_changes(files, spec, add=bool(services), allow_latest=allow_latest)
    edits = edits_for(files, changes)
    if not edits:
        console.info(f"nothing to change: {env} already has {', '.join(specs)}")
        return EXIT_CHANGED
    return _publish(co, edits, messages.set_image(env, edits), publish, console)


def status(cwd: Path, *, output: str, console: Console) -> int:
    co = _Checkout.open(cwd)
    envs = co.layout.environments
    rows = build_rows(envs, [f for t in co.layout.targets for f in co.read(t)])
    result = Status(envs, rows, _last_changes(co.repo, envs), co.layout.name)
    console.out(render_json(result) if output == "json" else render_table(result))
    return EXIT_OK


def _last_changes(repo: GitRepo, envs: Sequence[str]) -> tuple[LastChange, ...]:
    found: dict[str, LastChange] = {}
    for commit in repo.history():
        record = messages.read_record(commit.message)
        if record and record.env in envs and record.env not in found:
            found[record.env] = LastChange(record.env, str(commit.id), record.kind, record.source,
                                           _subject(commit), _time(commit))
            if len(found) == len(envs):
                break
    return tuple(found[e] for e in envs if e in found)


def undo(cwd: Path, env: str, *, services: Sequence[str], publish: Publish, console: Console) -> int:
    co = _Checkout.open(cwd)
    env = co.layout.check_env(env)
    selected = co.layout.select_services(services)
    files = {f.path: f for t in co.layout.in_env(env) for f in co.read(t)}
    found = _last_promotion(co.repo, env, {p for p, f in files.items() if f.target.service in selected},
                            set(files))
    if found is None:
        console.info(f"nothing to undo: no git promote commit into {env} to revert")
        return EXIT_CHANGED
    commit, paths = found
    reverted, conflicts = co.repo.revert(commit, paths)
    if conflicts:
        later = co.repo.last_change(conflicts[0], commit)
        by = f"{later.short_id} ({_subject(later)})" if later else "a later commit"
        raise GitopsError(f"cannot undo {commit.short_id} ({_subject(commit)}): {by} changed the same lines "
                          f"of {conflicts[0]}", hint="undo that commit first, or edit the file by hand")
    edits = []
    for path in sorted(reverted):
        after = reverted[path].decode()
        if files[path].text != after:
            edits.append(FileEdit(path, files[path].text, after, pin_changes(files[path], after)))
    if not edits:
        console.info(f"nothing to undo: the changes of {commit.short_id} are no longer there")
        return EXIT_CHANGED
    return _publish(co, edits, messages.undo(env, str(commit.id), _subject(commit), edits),
                    publish, console)


def _last_promotion(repo: GitRepo, env: str, selected: set[str],
                    env_paths: set[str]) -> tuple[pygit2.Commit, set[str]] | None:
    """The newest git promote commit into `env` that changed a selected file and is not yet undone,
    with the files still to revert. Undo commits are newer than what they revert, so walking
    newest-first sees them first."""
    undone: dict[str, set[str]] = {}
    for commit in repo.history():
        record = messages.read_record(commit.message)
        if record is None or record.env != env:
            continue
        if record.reverts:
            undone.setdefault(record.reverts, set()).update(repo.changed(commit, env_paths))
            continue
        remaining = repo.changed(commit, selected) - undone.get(str(commit.id), set())
        if remaining:
            return commit, remaining
    return None


def _publish(co: _Checkout, edits: Sequence[FileEdit], message: str, publish: Publish,
             console: Console) -> int:
    repo = co.repo
    _preflight(co, [e.path for e in edits], publish)
    console.diff(edits)
    if publish.dry_run:
        console.info(f"dry run: nothing committed; would commit: {message.splitlines()[0]}")
        return EXIT_OK
    committed = gitwrite.commit(repo, {e.path: e.after.encode() for e in edits}, message, base=co.head,
                                branch=publish.branch)
    console.info(f"[{committed.branch} {committed.short_id}] {message.splitlines()[0]}")
    if publish.push:
        gitwrite.push(repo, publish.push, committed.branch)
        console.info(f"pushed {committed.branch} to {publish.push}")
    return EXIT_OK


def _preflight(co: _Checkout, paths: Sequence[str], publish: Publish) -> None:
    """The refusals that depend on the repository's state rather than on the overlays."""
    repo = co.repo
    repo.check_head(co.head)
    dirty = [p for p in paths if repo.is_dirty(p)]
    if dirty:
        # A concurrent promotion that just committed leaves the files briefly "changed": say why.
        repo.check_head(co.head)
        more = f" (and {len(dirty) - 1} more)" if len(dirty) > 1 else ""
        raise GitopsError(f"{dirty[0]}{more} has uncommitted changes",
                          hint="commit or stash them first: git promote edits the committed files")
    if publish.branch:
        repo.check_new_branch(publish.branch)
    elif repo.current_branch() is None:
        raise GitopsError("HEAD is detached, so there is no branch to commit on",
                          hint="pass --branch NAME to commit on a new branch")
    if publish.push:
        repo.check_remote(publish.push)
    gitwrite.signatures(repo)


def _subject(commit: pygit2.Commit) -> str:
    return commit.message.split("\n", 1)[0]


def _time(commit: pygit2.Commit) -> datetime:
    return datetime.fromtimestamp(commit.commit_time, timezone(timedelta(minutes=commit.commit_time_offset)))
