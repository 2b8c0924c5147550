"""The front door: chains the stages for one run. source → apps → render → live → pairing.

`compare_target` is what `diff` and `status` show and what `sync` plans from.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubectl_gitops import pairing, policy, settings
from kubectl_gitops.apps import App, app_projects_in, resolve_target
from kubectl_gitops.cluster import Client
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.live import LiveCache, app_projects, argocd_cm, dry_run, existing_namespaces, scopes
from kubectl_gitops.model import SyncOptions
from kubectl_gitops.render import render
from kubectl_gitops.settings import Settings
from kubectl_gitops.source import Sources
from kubectl_gitops.state import AppState

Log = Callable[[str], None]


@dataclass(frozen=True)
class CompareOptions:
    target: str = "."
    revision: str | None = None
    recursive: bool = True
    argocd_cm: str | None = None  # a local argocd-cm YAML file instead of the cluster's ConfigMap
    config_namespace: str = "argocd"  # where the cluster's argocd-cm, AppProjects (and the app records) live
    pins: tuple[tuple[str, str], ...] = ()  # (app, commit): render that app at that commit (a rollback)
    projects_dir: str | None = None  # --projects: AppProject files, after the repository's and the cluster's


# -- settings ---------------------------------------------------------------------------------------

def load_settings(client: Client, path: str | None, namespace: str) -> Settings:
    return settings.from_file(path) if path else settings.parse(argocd_cm(client, namespace))


def single_app(opts: CompareOptions) -> App:
    """The one app TARGET names (a command that acts on exactly one, like rollback)."""
    sources = Sources(opts.target, opts.revision)
    apps, _ = resolve_target(sources.target_path(opts.target), sources.search_dirs(), sources.display)
    if len(apps) != 1:
        raise GitopsError(f"{opts.target}: names {len(apps)} apps ({', '.join(a.name for a in apps)}); "
                          "name exactly one", hint="pass the app's name or its Application file")
    return apps[0]


# -- compare ----------------------------------------------------------------------------------------

def compare_target(opts: CompareOptions, client: Client, log: Log) -> tuple[list[AppState], Settings]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Discovery and argocd-cm are round trips that reading and rendering Git do not need: overlap them.
        pending = pool.submit(load_settings, client, opts.argocd_cm, opts.config_namespace)
        states = _compare_apps(opts, client, pending.result, log)
        return states, pending.result()


def _compare_apps(opts: CompareOptions, client: Client, get_settings: Callable[[], Settings],
                  log: Log) -> list[AppState]:
    sources = Sources(opts.target, opts.revision, dict(opts.pins))
    apps, found_at = resolve_target(sources.target_path(opts.target), sources.search_dirs(), sources.display)
    live_cache = LiveCache(client)
    projects = policy.Projects(cluster=lambda: app_projects(client, opts.config_namespace),
                               files=app_projects_in(Path(opts.projects_dir)) if opts.projects_dir else [])
    if not all(a.is_plain_dir for a in apps):  # the Application files named are part of this run's trees
        _warn(projects.add(app_projects_in(found_at, sources.display)), log)
    context = Context(client, get_settings, live_cache, projects, opts.config_namespace, datetime.now(UTC))
    states: list[AppState] = []
    done: set[str] = set()

    def visit(app: App, stack: tuple[str, ...]) -> None:
        if app.name in stack:
            raise GitopsError(f"app of apps cycle: {' → '.join((*stack, app.name))}",
                              hint=f"{app.origin} is reached from its own children")
        if app.name in done:
            return
        done.add(app.name)
        state = compare_app(app, sources, context, log)
        states.append(state)
        if opts.recursive:
            for child in sorted(state.children, key=lambda a: (a.wave, a.name)):  # the root's wave order
                if child.name != app.name:  # a root that manages its own Application is not a cycle
                    visit(child, (*stack, app.name))

    for app in apps:
        visit(app, ())
    if live_cache.forbidden:
        log(f"not allowed to list {', '.join(sorted(r.plural for r in live_cache.forbidden))}: "
            "extraneous objects of those kinds are not shown")
    return states


@dataclass(frozen=True)
class Context:
    """What every app of one run shares."""

    client: Client
    settings: Callable[[], Settings]
    live: LiveCache
    projects: policy.Projects
    config_namespace: str
    now: datetime


def compare_app(app: App, sources: Sources, ctx: Context, log: Log) -> AppState:
    client = ctx.client
    tree, path = sources.tree_for(app)
    log(f"{app.name}: rendering {path} from {tree.label}")
    manifests = render(tree, path, app.source.directory, where=f"{app.origin}: Application {app.name}")
    _warn(ctx.projects.add(manifests), log)
    project = ctx.projects.get(app.project, f"{app.origin}: Application {app.name}")
    desired = pairing.prepare(app, manifests, client.resource_for, client.namespace)
    conditions = policy.app_conditions(app, project, ctx.config_namespace)
    state = AppState(app=app, source_label=tree.label, revision=tree.commit, hooks=desired.hooks,
                     children=desired.children, project=project, conditions=conditions)
    verdict = policy.window_verdict(app, project, manual=True, at=ctx.now)
    state.sync_window = "" if verdict.allowed else verdict.reason
    if conditions:  # Argo CD does not compare an app its project refuses
        state.resources = sorted(policy.refuse_app(desired.resources, conditions), key=lambda r: r.key)
        log(f"{app.name}: refused by project {project.name}: {'; '.join(conditions)}")
        return state
    refused = policy.refuse_resources(app, project, desired.resources)
    if desired.skipped_argo:
        log(f"{app.name}: argoproj.io CRDs are not installed; Applications define child apps only")
    keys = set(desired.resources)
    namespaces = {k.namespace for k in keys} | ({app.dest_namespace} if app.dest_namespace else set())
    live = ctx.live.objects(scopes(client, keys, namespaces))
    rules = (*app.ignore_differences, *ctx.settings().ignore_rules)
    existing = existing_namespaces(client, pairing.namespaces_to_look_up(desired.resources, live))
    todo = pairing.pair(desired.resources, live, rules, existing)
    app_options = SyncOptions.parse(app.sync_options, app.origin)
    for rs, after in zip(todo, dry_run(client, todo, app_options), strict=True):
        pairing.predicted(rs, after, rules)
    extraneous = policy.permitted_live(app, project, pairing.extraneous(app.name, keys | {r.key for r in refused},
                                                                        live))
    state.resources = sorted([*desired.resources.values(), *refused, *extraneous], key=lambda r: r.key)
    log(f"{app.name}: {len(keys)} objects in Git, {sum(r.out_of_sync for r in state.resources)} out of sync")
    return state


def _warn(warnings: list[str], log: Log) -> None:
    for w in warnings:
        log(f"warning: {w}")
