"""The AppProject checks of a run, pure: which projects exist, whether an app may use its project, which
of its objects the project refuses, and whether a sync window lets it sync now. Each check returns
violations (messages); compare marks what they name `Unknown`, sync stops on any before a write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from kubectl_gitops.apps import App, is_app_project
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Manifest, ResourceKey
from kubectl_gitops.project import (
    DEFAULT_PROJECT,
    Destination,
    Project,
    app_destination,
    app_violations,
    implicit_default,
    parse_project,
    resource_violation,
)
from kubectl_gitops.state import AppState, ResourceState, SyncStatus
from kubectl_gitops.windows import SyncWindow, Verdict, can_sync, may_overrun


@dataclass
class Projects:
    """Every AppProject a run knows, by name. Looked up in this order: manifests of this run's trees
    (the TARGET's files and each rendered app), AppProject objects in the cluster's config namespace
    (`cluster`, read once on first need), then `--projects` files. `default` permits everything
    unless one of them defines it."""

    cluster: Callable[[], list[Manifest]] = list
    files: list[Manifest] = field(default_factory=list)
    rendered: dict[str, Project] = field(default_factory=dict)
    _cluster: dict[str, Project] | None = None
    _files: dict[str, Project] | None = None

    def add(self, manifests: list[Manifest]) -> list[str]:
        """Take the AppProjects among a tree's manifests; returns their warnings."""
        warnings = []
        for m in manifests:
            if is_app_project(m.obj):
                p = parse_project(m.obj, m.origin)
                known = self.rendered.setdefault(p.name, p)
                if replace(p, origin=known.origin) != known:  # the same tree read twice is no conflict
                    raise GitopsError(f"{m.origin}: AppProject {p.name} is also defined in {known.origin}")
                warnings += p.warnings
        return warnings

    def get(self, name: str, where: str) -> Project:
        for source in (lambda: self.rendered, self._from_cluster, self._from_files):  # asked only as needed
            found = source()
            if name in found:
                return found[name]
        if name == DEFAULT_PROJECT:
            return implicit_default()
        raise GitopsError(f"{where}: project {name!r} exists nowhere",
                          hint="define the AppProject in the repository, in the cluster's config namespace, "
                               "or pass --projects DIR")

    def _from_cluster(self) -> dict[str, Project]:
        if self._cluster is None:
            self._cluster = _by_name(self.cluster())
        return self._cluster

    def _from_files(self) -> dict[str, Project]:
        if self._files is None:
            self._files = _by_name(self.files)
        return self._files


def _by_name(manifests: list[Manifest]) -> dict[str, Project]:
    out: dict[str, Project] = {}
    for m in manifests:
        if is_app_project(m.obj):
            p = parse_project(m.obj, m.origin)
            if p.name in out:
                raise GitopsError(f"{m.origin}: AppProject {p.name} is also defined in {out[p.name].origin}")
            out[p.name] = p
    return out


# -- the checks ---------------------------------------------------------------------------------------

def destination(app: App) -> Destination:
    return app_destination(app.manifest, app.dest_namespace)


def app_conditions(app: App, project: Project, control_namespace: str) -> list[str]:
    """Why the project refuses the whole app (Argo CD's InvalidSpecError); a plain directory has no
    repository to check."""
    meta = (app.manifest or {}).get("metadata") or {}
    repos = () if app.is_plain_dir else (app.source.repo_url,)
    return app_violations(project, app=app.name, repo_urls=repos, dest=destination(app),
                          app_namespace=str(meta.get("namespace") or ""), control_namespace=control_namespace)


def refuse_app(resources: dict[ResourceKey, ResourceState], conditions: list[str]) -> list[ResourceState]:
    """A refused app is not compared: each of its objects is Unknown."""
    for rs in resources.values():
        rs.status, rs.message = SyncStatus.UNKNOWN, "; ".join(conditions)
    return list(resources.values())


def refuse_resources(app: App, project: Project, resources: dict[ResourceKey, ResourceState]) -> list[ResourceState]:
    """Take the objects the project does not permit out of `resources`, marked Unknown with why."""
    dest = destination(app)
    refused = []
    for key, rs in list(resources.items()):
        why = _refusal(project, key, dest)
        if why:
            rs.status, rs.message = SyncStatus.UNKNOWN, why
            refused.append(resources.pop(key))
    return refused


def permitted_live(app: App, project: Project, states: list[ResourceState]) -> list[ResourceState]:
    """Live objects the project does not permit are left out of the comparison, so never pruned."""
    dest = destination(app)
    return [rs for rs in states if not _refusal(project, rs.key, dest)]


def _refusal(project: Project, key: ResourceKey, dest: Destination) -> str | None:
    return resource_violation(project, group=key.group, kind=key.kind, name=key.name, namespace=key.namespace,
                              dest=dest)


def windows_for(app: App, project: Project) -> tuple[SyncWindow, ...]:
    dest = destination(app)
    return tuple(w for w in project.windows
                 if w.applies_to(app.name, dest.namespace, dest.server, dest.name))


def window_verdict(app: App, project: Project, *, manual: bool, at: datetime) -> Verdict:
    return can_sync(windows_for(app, project), manual=manual, at=at)


def project_violations(state: AppState) -> list[str]:
    """What the app's project refuses: the whole app (its conditions), else each refused object."""
    if state.conditions:
        return list(state.conditions)
    return [f"{rs.origin}: {rs.key}: {rs.message}" for rs in state.resources
            if rs.status == SyncStatus.UNKNOWN and rs.message]


def window_violations(state: AppState, *, at: datetime, manual: bool = True) -> list[str]:
    """A sync window that blocks a manual (`kubectl gitops sync`) or automated sync of this app at `at`."""
    if state.project is None or state.conditions:
        return []
    verdict = window_verdict(state.app, state.project, manual=manual, at=at)
    return [] if verdict.allowed else [verdict.reason]


def overrun_violation(state: AppState, *, at: datetime, manual: bool = True) -> str:
    """A sync that started while its windows allowed it goes on once they block it only if every
    window now blocking it has syncOverrun; else why it must stop."""
    if state.project is None:
        return ""
    windows = windows_for(state.app, state.project)
    if may_overrun(windows, manual=manual, at=at):
        return ""
    return can_sync(windows, manual=manual, at=at).reason + " (syncOverrun is not set)"
