"""The front door: chains the stages for one run. source → apps → render → live → pairing.

`compare_target` is what `diff` and `status` show and what `sync` plans from.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kubectl_gitops import customizations, pairing, settings
from kubectl_gitops.apps import App, resolve_target
from kubectl_gitops.cluster import Client
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.live import LiveCache, argocd_cm, dry_run, existing_namespaces, scopes
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
    config_namespace: str = "argocd"  # where the cluster's argocd-cm (and the app records) live
    pins: tuple[tuple[str, str], ...] = ()  # (app, commit): render that app at that commit (a rollback)
    resource_customizations: str | None = None  # Argo CD's bundled health checks (a resource_customizations dir)


# -- settings ---------------------------------------------------------------------------------------

def load_settings(client: Client, opts: CompareOptions) -> Settings:
    path = opts.argocd_cm
    loaded = settings.from_file(path) if path else settings.parse(argocd_cm(client, opts.config_namespace))
    return customizations.with_bundled(loaded, opts.resource_customizations)


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
        pending = pool.submit(load_settings, client, opts)
        states = _compare_apps(opts, client, pending.result, log)
        return states, pending.result()


def _compare_apps(opts: CompareOptions, client: Client, get_settings: Callable[[], Settings],
                  log: Log) -> list[AppState]:
    sources = Sources(opts.target, opts.revision, dict(opts.pins))
    apps, _ = resolve_target(sources.target_path(opts.target), sources.search_dirs(), sources.display)
    live_cache = LiveCache(client)
    states: list[AppState] = []
    done: set[str] = set()

    def visit(app: App, stack: tuple[str, ...]) -> None:
        if app.name in stack:
            raise GitopsError(f"app of apps cycle: {' → '.join((*stack, app.name))}",
                              hint=f"{app.origin} is reached from its own children")
        if app.name in done:
            return
        done.add(app.name)
        state = compare_app(app, sources, client, get_settings, live_cache, log)
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


def compare_app(app: App, sources: Sources, client: Client, get_settings: Callable[[], Settings],
                live_cache: LiveCache, log: Log) -> AppState:
    tree, path = sources.tree_for(app)
    log(f"{app.name}: rendering {path} from {tree.label}")
    manifests = render(tree, path, app.source.directory, where=f"{app.origin}: Application {app.name}")
    desired = pairing.prepare(app, manifests, client.resource_for, client.namespace)
    if desired.skipped_argo:
        log(f"{app.name}: argoproj.io CRDs are not installed; Applications define child apps only")
    keys = set(desired.resources)
    namespaces = {k.namespace for k in keys} | ({app.dest_namespace} if app.dest_namespace else set())
    live = live_cache.objects(scopes(client, keys, namespaces))
    rules = (*app.ignore_differences, *get_settings().ignore_rules)
    existing = existing_namespaces(client, pairing.namespaces_to_look_up(desired.resources, live))
    todo = pairing.pair(desired.resources, live, rules, existing)
    app_options = SyncOptions.parse(app.sync_options, app.origin)
    for rs, after in zip(todo, dry_run(client, todo, app_options), strict=True):
        pairing.predicted(rs, after, rules)
    resources = [*desired.resources.values(), *pairing.extraneous(app.name, keys, live)]
    state = AppState(app=app, source_label=tree.label, revision=tree.commit, resources=sorted(resources,
                     key=lambda r: r.key), hooks=desired.hooks, children=desired.children)
    log(f"{app.name}: {len(keys)} objects in Git, {sum(r.out_of_sync for r in state.resources)} out of sync")
    return state
