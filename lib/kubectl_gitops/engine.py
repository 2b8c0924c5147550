"""The front door: chains the stages for one run. source → apps → render → live → compare.

`compare_target` is what `diff` and `status` show and what `sync` plans from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_gitops import yamlio
from kubectl_gitops.apps import (
    App,
    IgnoreRule,
    is_application,
    parse_application,
    parse_ignore_rule,
    resolve_target,
)
from kubectl_gitops.cluster import ApiError, Client, resource_or_error, write_object
from kubectl_gitops.compare import (
    EXTRANEOUS,
    MISSING,
    OUT_OF_SYNC,
    SYNCED,
    apply_ignore,
    deep_copy,
    in_sync_without_dry_run,
    normalize,
    rules_for,
)
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import HealthChecker, HealthStatus, app_health, config_from_data
from kubectl_gitops.live import LiveCache, parallel_results, scopes
from kubectl_gitops.model import (
    ANN_COMPARE_OPTIONS,
    ANN_HELM_HOOK,
    ANN_HOOK,
    ARGO_GROUP,
    TRACKING_ID,
    Obj,
    ResourceKey,
    SyncOptions,
    annotations,
    key_of,
    object_options,
    owning_app,
    tracking_id,
)
from kubectl_gitops.render import Manifest, Request, render
from kubectl_gitops.source import LocalRepo, Tree, fetch_remote, open_local

Log = Callable[[str], None]
ARGOCD_CM = "argocd-cm"
IGNORE_DIFF_PREFIX = "resource.customizations.ignoreDifferences."


@dataclass(frozen=True)
class CompareOptions:
    target: str = "."
    revision: str | None = None
    recursive: bool = True
    argocd_cm: str | None = None  # a local argocd-cm YAML file instead of the cluster's ConfigMap
    config_namespace: str = "argocd"  # where the cluster's argocd-cm lives


@dataclass
class ResourceState:
    app: str
    key: ResourceKey
    status: str
    origin: str = ""
    desired: Obj | None = None  # what sync would apply: namespace set, tracking id added
    live: Obj | None = None
    # Normalized, ignoreDifferences applied: what is compared and shown. None when the fast path
    # found the object synced (there is no diff to show).
    target_view: Obj | None = None
    live_view: Obj | None = None
    ignored_extraneous: bool = False
    pending_crd: bool = False  # its CRD comes in the same app, so the server cannot check it yet
    health: HealthStatus | None = None  # of the live object; None: no live object or no check
    exact: bool = False  # in sync even before ignoreDifferences: applying it would write nothing
    validated: bool = False  # passed the server-side dry-run sync's pre-flight check would send

    @property
    def out_of_sync(self) -> bool:
        return self.status != SYNCED and not self.ignored_extraneous


@dataclass
class AppState:
    app: App
    source_label: str
    resources: list[ResourceState] = field(default_factory=list)
    hooks: list[Manifest] = field(default_factory=list)
    children: list[App] = field(default_factory=list)
    health: str | None = None


@dataclass
class Settings:
    """argocd-cm: ignoreDifferences rules and the raw data (health customizations read it too)."""

    data: dict[str, str] = field(default_factory=dict)
    ignore_rules: tuple[IgnoreRule, ...] = ()


# -- sources ----------------------------------------------------------------------------------------

class Sources:
    """Maps each app to the tree it renders from; trees are shared across apps in one run."""

    def __init__(self, target: str, revision: str | None) -> None:
        self.revision = revision
        self.local: LocalRepo | None = open_local(Path(target).resolve() if Path(target).exists() else Path.cwd())
        self._trees: dict[tuple[str, str], Tree] = {}
        if revision and self.local is None:
            raise GitopsError(f"{target}: --revision needs a git repository, and this is not in one")

    def tree_for(self, app: App) -> tuple[Tree, str]:
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


# -- settings ---------------------------------------------------------------------------------------

def load_settings(client: Client, path: str | None, namespace: str) -> Settings:
    if path:
        doc = yamlio.load(Path(path).read_bytes(), path)
        data = (doc or {}).get("data") or {}
    else:
        try:
            res = client.resource_for("", "ConfigMap")
            cm = client.get(res, namespace, ARGOCD_CM) if res else None
        except ApiError as e:
            if e.status != 403:
                raise
            cm = None  # no permission to read it: run without customizations
        data = (cm or {}).get("data") or {}
    return Settings(data=dict(data), ignore_rules=_cm_ignore_rules(data))


def _cm_ignore_rules(data: dict[str, str]) -> tuple[IgnoreRule, ...]:
    rules: list[IgnoreRule] = []
    for k, v in data.items():
        if not k.startswith(IGNORE_DIFF_PREFIX):
            continue
        gk = k[len(IGNORE_DIFF_PREFIX):]
        doc = yamlio.load(v, f"argocd-cm {k}") or {}
        if gk == "all":
            group, kind = "*", "*"
        else:
            group, _, kind = gk.rpartition("_")
        rules.append(parse_ignore_rule({**doc, "group": group, "kind": kind}, f"argocd-cm {k}"))
    return tuple(rules)


# -- compare ----------------------------------------------------------------------------------------

def compare_target(opts: CompareOptions, client: Client, log: Log) -> tuple[list[AppState], Settings]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Discovery and argocd-cm are round trips that reading and rendering Git do not need: overlap them.
        pending = pool.submit(load_settings, client, opts.argocd_cm, opts.config_namespace)
        states = _compare_apps(opts, client, pending.result, log)
        return states, pending.result()


def _compare_apps(opts: CompareOptions, client: Client, settings: Callable[[], Settings], log: Log) -> list[AppState]:
    sources = Sources(opts.target, opts.revision)
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
        state = compare_app(app, sources, client, settings, live_cache, log)
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


def compare_app(app: App, sources: Sources, client: Client, settings: Callable[[], Settings],
                live_cache: LiveCache, log: Log) -> AppState:
    tree, path = sources.tree_for(app)
    log(f"{app.name}: rendering {path} from {tree.label}")
    manifests = render(Request(tree, path, app.source, app_name=app.name, namespace=app.dest_namespace,
                               where=f"{app.origin}: Application {app.name}"))
    state = AppState(app=app, source_label=tree.label)
    desired = _prepare(app, manifests, client, state, log)
    keys = set(desired)
    namespaces = {k.namespace for k in keys} | ({app.dest_namespace} if app.dest_namespace else set())
    live = live_cache.objects(scopes(client, keys, namespaces))
    rules = (*app.ignore_differences, *settings().ignore_rules)
    state.resources = _pair(app, desired, live, rules, client)
    log(f"{app.name}: {len(desired)} objects in Git, "
        f"{sum(r.out_of_sync for r in state.resources)} out of sync")
    return state


def is_hook(obj: Obj) -> bool:
    ann = annotations(obj)
    return ANN_HOOK in ann or (ANN_HELM_HOOK in ann and "crd-install" not in ann[ANN_HELM_HOOK])


def _prepare(app: App, manifests: list[Manifest], client: Client, state: AppState,
             log: Log) -> dict[ResourceKey, ResourceState]:
    """Desired objects keyed by identity: namespace defaulted, tracking id added; hooks and child
    Applications set aside. Unknown kinds are an error unless their CRD is part of the same app."""
    crds = {(m.obj.get("spec", {}).get("group", ""), m.obj.get("spec", {}).get("names", {}).get("kind", ""))
            for m in manifests if m.obj.get("kind") == "CustomResourceDefinition"}
    out: dict[ResourceKey, ResourceState] = {}
    skipped_argo = False
    for m in manifests:
        obj = deep_copy(m.obj)
        if is_application(obj):
            state.children.append(parse_application(obj, m.origin))
        raw = key_of(obj)
        res = client.resource_for(raw.group, raw.kind)
        pending = res is None and (raw.group, raw.kind) in crds
        if res is None and raw.group == ARGO_GROUP and raw.kind in ("Application", "AppProject"):
            skipped_argo = True  # no Argo CD CRDs here: Applications only define child apps
            continue
        if res is None and not pending:
            res = resource_or_error(client, raw, m.origin)
        meta = obj.setdefault("metadata", {})
        if res is not None and not res.namespaced:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            meta["namespace"] = app.dest_namespace or client.namespace
        if is_hook(obj):
            state.hooks.append(Manifest(obj, m.origin))
            continue
        key = key_of(obj)
        if key in out:
            raise GitopsError(f"{m.origin}: {key} is defined twice in app {app.name} "
                              f"(also in {out[key].origin})")
        meta.setdefault("annotations", {})[TRACKING_ID] = tracking_id(app.name, key)
        out[key] = ResourceState(app=app.name, key=key, status=MISSING, origin=m.origin, desired=obj,
                                 pending_crd=pending)
    if skipped_argo:
        log(f"{app.name}: argoproj.io CRDs are not installed; Applications define child apps only")
    return out


def _pair(app: App, desired: dict[ResourceKey, ResourceState], live: dict[ResourceKey, Obj],
          rules: tuple[IgnoreRule, ...], client: Client) -> list[ResourceState]:
    need_dry_run: list[ResourceState] = []
    ns_known: dict[str, bool] = {}
    for key, rs in desired.items():
        rs.live = live.get(key)
        if rs.live is not None and in_sync_without_dry_run(rs.desired or {}, rs.live):
            rs.status, rs.exact = SYNCED, True  # no views: a synced object has no diff to show
        elif rs.pending_crd or (rs.live is None and not _namespace_exists(rs, live, desired, client, ns_known)):
            rs.target_view = _view(rs.desired or {}, rs, rules)
        else:
            need_dry_run.append(rs)
    _dry_run(need_dry_run, rules, client, SyncOptions.parse(app.sync_options, app.origin))
    extraneous = [
        ResourceState(app=app.name, key=k, status=EXTRANEOUS, live=o, live_view=normalize(o),
                      ignored_extraneous="IgnoreExtraneous" in annotations(o).get(ANN_COMPARE_OPTIONS, ""))
        for k, o in live.items()
        if k not in desired and owning_app(o, k) == app.name and not is_hook(o)
    ]
    return sorted([*desired.values(), *extraneous], key=lambda r: r.key)


def _namespace_exists(rs: ResourceState, live: dict[ResourceKey, Obj],
                      desired: dict[ResourceKey, ResourceState], client: Client, known: dict[str, bool]) -> bool:
    """A missing object whose namespace comes in the same sync cannot be dry-run yet."""
    ns = rs.key.namespace
    if not ns:
        return True
    nskey = ResourceKey("", "Namespace", "", ns)
    if nskey in live:
        return True
    if nskey in desired:
        return False
    if ns not in known:
        res = client.resource_for("", "Namespace")
        known[ns] = res is None or client.get(res, "", ns) is not None
    return known[ns]


def _dry_run(states: list[ResourceState], rules: tuple[IgnoreRule, ...], client: Client,
             app_options: SyncOptions) -> None:
    def one(rs: ResourceState) -> Obj:
        res = resource_or_error(client, rs.key, rs.origin)
        opts = app_options.merged(object_options(rs.desired or {}, rs.origin))
        return write_object(client, res, rs.desired or {}, rs.live, opts, dry_run=True)

    results = parallel_results(one, states)
    failures = [f"  {rs.origin}: {rs.key}: {r}" for rs, r in zip(states, results, strict=True)
                if isinstance(r, GitopsError)]
    if failures:
        raise GitopsError(f"server-side dry-run failed for {len(failures)} object(s); nothing was written:\n"
                          + "\n".join(failures))
    for rs, predicted in zip(states, results, strict=True):
        assert isinstance(predicted, dict)
        rs.validated = True
        rs.target_view = _view(predicted, rs, rules)
        if rs.live is not None:
            rs.live_view = _view(rs.live, rs, rules)
            rs.status = SYNCED if rs.target_view == rs.live_view else OUT_OF_SYNC
            rs.exact = normalize(predicted) == normalize(rs.live)


def _view(obj: Obj, rs: ResourceState, rules: tuple[IgnoreRule, ...]) -> Obj:
    return apply_ignore(normalize(obj), rules_for(rs.key, rules), rs.live)


# -- health -----------------------------------------------------------------------------------------

def assess_health(states: list[AppState], settings: Settings) -> HealthChecker:
    """Each object's and each app's health. Children first, so an App of Apps root sees the health
    this run computed for its child Applications. Returns the checker sync keeps using."""
    config = config_from_data(settings.data)
    computed: dict[str, HealthStatus] = {}
    checker = HealthChecker(config)
    for st in reversed(states):  # states are in visiting order: parents before children
        checker = HealthChecker(config, child_apps=computed)
        for rs in st.resources:
            rs.health = checker.check(rs.live) if rs.live is not None else None
        st.health = app_health((rs.live, rs.health) for rs in st.resources if rs.status != EXTRANEOUS)
        computed[st.app.name] = HealthStatus(st.health)
    return checker
