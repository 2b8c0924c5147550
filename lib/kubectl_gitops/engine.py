"""The front door: chains the stages for one run. source → apps → render → live → pairing.

`compare_target` is what `diff` and `status` show and what `sync` plans from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kubectl_gitops import customizations, pairing, policy, settings
from kubectl_gitops.apps import App, app_projects_in, resolve_target
from kubectl_gitops.appsource import Source
from kubectl_gitops.cluster import Client
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.fleet import Fleet, unreachable
from kubectl_gitops.live import (
    Lister,
    LiveCache,
    app_projects,
    argocd_cm,
    dry_run,
    existing_namespaces,
    repository_secrets,
    scopes,
)
from kubectl_gitops.model import SyncOptions
from kubectl_gitops.render import DEFAULT_TIMEOUT, Once, Renders, Request, Target
from kubectl_gitops.repourl import RepoURL
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
    resource_customizations: str | None = None  # Argo CD's bundled health checks (a resource_customizations dir)
    render_timeout: float = DEFAULT_TIMEOUT  # seconds each renderer subprocess may take


# -- settings ---------------------------------------------------------------------------------------

def load_settings(client: Client, opts: CompareOptions) -> Settings:
    path = opts.argocd_cm
    loaded = settings.from_file(path) if path else settings.parse(argocd_cm(client, opts.config_namespace))
    return customizations.with_bundled(loaded, opts.resource_customizations)


def new_sources(opts: CompareOptions) -> Sources:
    """The trees of a run: remote repositories fetched as each app first asks for one."""
    return Sources(opts.target, opts.revision, dict(opts.pins))


def single_app(opts: CompareOptions) -> App:
    """The one app TARGET names (a command that acts on exactly one, like rollback)."""
    sources = Sources(opts.target, opts.revision)
    apps, _ = resolve_target(opts.target, sources.search_dirs(), sources.display,
                             sources.target_path(opts.target))
    if len(apps) != 1:
        raise GitopsError(f"{opts.target}: names {len(apps)} apps ({', '.join(a.name for a in apps)}); "
                          "name exactly one", hint="pass the app's name or its Application file")
    return apps[0]


# -- compare ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hooks:
    """What a long-running caller (watch) gives compare in place of what it reads by default."""

    # Each cluster -> what serves its live objects of each kind (default: a LIST; watch: its caches).
    listers: Callable[[Client], Lister] | None = None
    sources: Sources | None = None  # the apps' trees (default: read now; watch: those of its last Git poll)
    # The apps compared with their cluster (default: all). The others are rendered only, for the apps
    # they manage (watch: another replica reconciles them).
    wanted: Callable[[str], bool] | None = None


def compare_target(opts: CompareOptions, fleet: Fleet, log: Log,
                   hooks: Hooks = Hooks()) -> tuple[list[AppState], Settings]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Discovery and argocd-cm are round trips that reading and rendering Git do not need: overlap them.
        pending = pool.submit(load_settings, fleet.management, opts)
        states = _compare_apps(opts, fleet, pending.result, log, hooks)
        return states, pending.result()


@dataclass(frozen=True)
class Context:
    """What the apps of one cluster share in a run: its connection and LIST cache, argocd-cm and the
    AppProjects (the management cluster's, shared by every cluster), the time windows are judged at."""

    client: Client
    settings: Callable[[], Settings]
    live: LiveCache
    projects: policy.Projects
    config_namespace: str
    now: datetime
    projects_lock: threading.Lock = field(default_factory=threading.Lock)  # shared with the other clusters
    wanted: Callable[[str], bool] | None = None  # Hooks.wanted


class _Cluster:
    """One destination cluster's Context, its versions for Helm, and one worker, so its apps are
    compared one after another while other clusters' run alongside."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.client = ctx, ctx.client
        self.target = Once(lambda: cluster_target(ctx.client))
        self.worker = ThreadPoolExecutor(max_workers=1)


def _compare_apps(opts: CompareOptions, fleet: Fleet, get_settings: Callable[[], Settings],
                  log: Log, hooks: Hooks) -> list[AppState]:
    sources = hooks.sources or new_sources(opts)
    apps, found_at = resolve_target(opts.target, sources.search_dirs(), sources.display,
                                    sources.target_path(opts.target))
    fleet.resolve(apps)  # every destination known before anything is read from its cluster
    projects = policy.Projects(cluster=lambda: app_projects(fleet.management, opts.config_namespace),
                               files=app_projects_in(Path(opts.projects_dir)) if opts.projects_dir else [])
    if not all(a.is_plain_dir for a in apps):  # the Application files named are part of this run's trees
        _warn(projects.add(app_projects_in(found_at, sources.display)), log)
    now, projects_lock = datetime.now(UTC), threading.Lock()
    clusters: dict[int, _Cluster] = {}
    secrets = Once(lambda: repository_secrets(fleet.management, opts.config_namespace))
    started: dict[str, Future[AppState]] = {}

    lock = threading.Lock()

    def cluster_of(app: App) -> _Cluster:
        client = fleet.client_of(app)
        with lock:
            if id(client) not in clusters:
                live = LiveCache(client, hooks.listers(client) if hooks.listers else None)
                clusters[id(client)] = _Cluster(Context(client, get_settings, live, projects,
                                                        opts.config_namespace, now, projects_lock, hooks.wanted))
            return clusters[id(client)]

    def start(app: App) -> None:
        c = cluster_of(app)
        started[app.name] = c.worker.submit(_compare_on, app, c, fleet, renders, log)

    def visit(root: App) -> list[AppState]:
        """The root's state, then each child's tree in turn (depth first). A loop, not a recursive
        closure: a closure that calls itself is a reference cycle holding every state of the compare
        until the garbage collector's next full pass, and watch's memory grew with each reconcile."""
        out: list[AppState] = []
        todo = [root]
        while todo:
            state = started[todo.pop().name].result()
            out.append(state)
            if not opts.recursive:
                continue
            new = list({k.name: k for k in _children(state) if k.name not in started}.values())
            fleet.resolve(new)
            renders.prefetch(new)  # siblings render in parallel
            for kid in new:
                start(kid)
            todo += reversed(new)
        return out

    def render_for(app: App) -> list[Request]:
        return render_requests(app, sources, cluster_of(app).target, secrets, opts.render_timeout, log)

    states: list[AppState] = []
    try:
        with Renders(render_for, log) as renders:
            renders.prefetch(apps)
            for app in apps:
                start(app)
            for app in apps:
                states += visit(app)
    finally:
        for c in clusters.values():
            c.worker.shutdown(wait=True, cancel_futures=True)
    _no_cycle(apps, {st.app.name: st for st in states})
    for c in clusters.values():
        if c.ctx.live.forbidden:
            log(f"not allowed to list {', '.join(sorted(r.plural for r in c.ctx.live.forbidden))} on "
                f"{c.client.context or c.client.host}: extraneous objects of those kinds are not shown")
    return states


def _children(state: AppState) -> list[App]:
    """The apps an app manages, in its wave order; a root that manages its own Application is no cycle."""
    return sorted((c for c in state.children if c.name != state.app.name), key=lambda a: (a.wave, a.name))


def _no_cycle(apps: list[App], states: dict[str, AppState]) -> None:
    """Apps are compared as soon as any parent names them, so a cycle (a manages b, b manages a) is
    looked for on the whole graph once it is known, before anything is written."""
    explored: set[str] = set()  # no cycle below these
    for app in apps:
        _walk(app.name, (), states, explored)


def _walk(name: str, stack: tuple[str, ...], states: dict[str, AppState], explored: set[str]) -> None:
    # A function of the module, not a closure calling itself: that would be a reference cycle
    # holding every state until the garbage collector's next full pass.
    for kid in _children(states[name]) if name in states else ():
        if kid.name in (*stack, name):
            raise GitopsError(f"app of apps cycle: {' → '.join((*stack, name, kid.name))}",
                              hint=f"{kid.origin} is reached from its own children")
        if kid.name not in explored:
            _walk(kid.name, (*stack, name), states, explored)
    explored.add(name)


def _compare_on(app: App, c: _Cluster, fleet: Fleet, renders: Renders, log: Log) -> AppState:
    label = fleet.target_of(app).label
    try:
        state = compare_app(app, renders, c.ctx, log)
    except GitopsError as e:
        if c.client is fleet.management or not unreachable(e):
            raise
        # Another cluster that does not answer fails its own apps only.
        return AppState(app=app, source_label="", cluster=label, error=str(e))
    state.cluster = label
    return state


def render_requests(app: App, sources: Sources, target: Callable[[], Target],
                    secrets: Callable[[], list[tuple[str, str, str, bool]]], timeout: float, log: Log) -> list[Request]:
    """One render request per source of `app`, with the trees of its `ref` sources."""
    picked = [(s, *sources.tree_for(app, s)) for s in app.sources]
    refs = {s.ref: tree for s, tree, _ in picked if s.ref and tree is not None}
    where = f"{app.origin}: Application {app.name}"
    for s, tree, path in picked:
        if s.renders:
            shown = tree.label if tree else RepoURL.parse(s.repo_url).shown
            log(f"{app.name}: rendering {s.chart or path} from {shown}")
    return [Request(tree, path, s, app_name=app.name, namespace=app.dest_namespace, where=where, target=target,
                    refs=refs, timeout=timeout, env=_build_env(app, s, path), repo_secrets=secrets)
            for s, tree, path in picked]


def _build_env(app: App, s: Source, path: str) -> dict[str, str]:
    """Argo CD's build environment, which Kustomize's commonAnnotationsEnvsubst reads."""
    return {"ARGOCD_APP_NAME": app.name, "ARGOCD_APP_NAMESPACE": app.dest_namespace,
            "ARGOCD_APP_SOURCE_REPO_URL": s.repo_url, "ARGOCD_APP_SOURCE_PATH": path,
            "ARGOCD_APP_SOURCE_TARGET_REVISION": s.target_revision}


def cluster_target(client: Client) -> Target:
    """The live cluster's version and API versions, as Argo CD passes them to Helm."""
    versions: set[str] = set()
    for r in client.resources().values():
        gv = f"{r.group}/{r.version}" if r.group else r.version
        versions.update((gv, f"{gv}/{r.kind}"))
    return Target(kube_version=client.server_version(), api_versions=tuple(sorted(versions)))


def compare_app(app: App, renders: Renders, ctx: Context, log: Log) -> AppState:
    client = ctx.client
    manifests = renders.get(app)
    where = f"{app.origin}: Application {app.name}"
    with ctx.projects_lock:  # the apps of every cluster add and read the run's AppProjects
        _warn(ctx.projects.add(manifests), log)
        project = ctx.projects.get(app.project, where)
    desired = pairing.prepare(app, manifests, client.resource_for, client.namespace)
    conditions = policy.app_conditions(app, project, ctx.config_namespace)
    label, revision = renders.source_of(app)
    state = AppState(app=app, source_label=label, revision=revision, hooks=desired.hooks,
                     children=desired.children, project=project, conditions=conditions)
    verdict = policy.window_verdict(app, project, manual=True, at=ctx.now)
    state.sync_window = "" if verdict.allowed else verdict.reason
    if ctx.wanted is not None and not ctx.wanted(app.name):
        return state  # its children are known; nothing of it is read from the cluster
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
