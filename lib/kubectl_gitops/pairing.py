"""The compare decision, pure: desired objects keyed by identity, each paired with its live object
and given a sync status. What only the server knows (which kinds it serves, which namespaces exist,
what a dry-run predicts) is asked for by the engine through `live` and passed in here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from kubectl_gitops.apps import App, IgnoreRule, is_application, parse_application
from kubectl_gitops.compare import apply_ignore, deep_copy, in_sync_without_dry_run, normalize, rules_for
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import (
    ANN_COMPARE_OPTIONS,
    ARGO_GROUP,
    TRACKING_ID,
    Manifest,
    Obj,
    ResourceKey,
    annotations_of,
    check_sync_annotations,
    is_hook,
    key_of,
    owning_app,
    tracking_id,
    unknown_kind,
)
from kubectl_gitops.state import ResourceState, SyncStatus


class Kind(Protocol):
    """What pairing needs to know of a served kind (cluster.ApiResource has it)."""

    @property
    def namespaced(self) -> bool: ...


KindLookup = Callable[[str, str], "Kind | None"]  # (group, kind) -> the served kind, None if not served


@dataclass
class Desired:
    """An app's render, sorted out: objects to compare, hooks and child Applications set aside."""

    resources: dict[ResourceKey, ResourceState] = field(default_factory=dict)
    hooks: list[Manifest] = field(default_factory=list)
    children: list[App] = field(default_factory=list)
    skipped_argo: bool = False  # Applications seen while argoproj.io is not served: children only


def prepare(app: App, manifests: list[Manifest], kind_of: KindLookup, default_namespace: str) -> Desired:
    """Desired objects keyed by identity: namespace defaulted, tracking id added. Unknown kinds are an
    error unless their CRD is part of the same app."""
    crds = {(m.obj.get("spec", {}).get("group", ""), m.obj.get("spec", {}).get("names", {}).get("kind", ""))
            for m in manifests if m.obj.get("kind") == "CustomResourceDefinition"}
    out = Desired()
    for m in manifests:
        obj = deep_copy(m.obj)
        if is_application(obj):
            out.children.append(parse_application(obj, m.origin))
        raw = key_of(obj)
        res = kind_of(raw.group, raw.kind)
        pending = res is None and (raw.group, raw.kind) in crds
        if res is None and raw.group == ARGO_GROUP and raw.kind in ("Application", "AppProject"):
            out.skipped_argo = True
            continue
        if res is None and not pending:
            raise unknown_kind(raw, m.origin)
        meta = obj.setdefault("metadata", {})
        if res is not None and not res.namespaced:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            meta["namespace"] = app.dest_namespace or default_namespace
        check_sync_annotations(obj, f"{m.origin}: {key_of(obj)}")
        if is_hook(obj):
            out.hooks.append(Manifest(obj, m.origin))
            continue
        key = key_of(obj)
        if key in out.resources:
            raise GitopsError(f"{m.origin}: {key} is defined twice in app {app.name} "
                              f"(also in {out.resources[key].origin})")
        meta.setdefault("annotations", {})[TRACKING_ID] = tracking_id(app.name, key)
        out.resources[key] = ResourceState(app=app.name, key=key, status=SyncStatus.MISSING, origin=m.origin,
                                           desired=obj, pending_crd=pending)
    return out


def namespaces_to_look_up(desired: dict[ResourceKey, ResourceState], live: dict[ResourceKey, Obj]) -> set[str]:
    """Namespaces of missing objects that neither Git nor the LISTs show: do they exist?"""
    return {rs.key.namespace for rs in desired.values()
            if rs.key not in live and not rs.pending_crd and rs.key.namespace
            and _namespace_key(rs.key.namespace) not in live and _namespace_key(rs.key.namespace) not in desired}


def pair(desired: dict[ResourceKey, ResourceState], live: dict[ResourceKey, Obj], rules: tuple[IgnoreRule, ...],
         existing_namespaces: set[str]) -> list[ResourceState]:
    """Pair each desired object with its live one. Decided here: the fast path (certainly in sync:
    no dry-run needed) and objects a dry-run cannot check yet (CRD or namespace comes in the same
    sync). Returns the states that still need a dry-run; `predicted` finishes them."""
    need_dry_run: list[ResourceState] = []
    for key, rs in desired.items():
        rs.live = live.get(key)
        if rs.live is not None and in_sync_without_dry_run(rs.desired or {}, rs.live):
            rs.status, rs.exact = SyncStatus.SYNCED, True  # no views: a synced object has no diff to show
        elif rs.pending_crd or (rs.live is None and not _namespace_exists(rs.key, live, desired,
                                                                          existing_namespaces)):
            rs.target_view = _view(rs.desired or {}, rs, rules)
        else:
            need_dry_run.append(rs)
    return need_dry_run


def predicted(rs: ResourceState, after_dry_run: Obj, rules: tuple[IgnoreRule, ...]) -> None:
    """Status and views from what the server-side dry-run says the object would become."""
    rs.validated = True
    rs.target_view = _view(after_dry_run, rs, rules)
    if rs.live is not None:
        rs.live_view = _view(rs.live, rs, rules)
        rs.status = SyncStatus.SYNCED if rs.target_view == rs.live_view else SyncStatus.OUT_OF_SYNC
        rs.exact = normalize(after_dry_run) == normalize(rs.live)


def extraneous(app: str, desired: Iterable[ResourceKey], live: dict[ResourceKey, Obj]) -> list[ResourceState]:
    """Live objects the app owns (by tracking id) that Git no longer has: what prune would delete."""
    wanted = set(desired)
    return [ResourceState(app=app, key=k, status=SyncStatus.EXTRANEOUS, live=o, live_view=normalize(o),
                          ignored_extraneous="IgnoreExtraneous" in annotations_of(o).get(ANN_COMPARE_OPTIONS, ""))
            for k, o in live.items() if k not in wanted and owning_app(o, k) == app and not is_hook(o)]


def _namespace_key(ns: str) -> ResourceKey:
    return ResourceKey("", "Namespace", "", ns)


def _namespace_exists(key: ResourceKey, live: dict[ResourceKey, Obj], desired: dict[ResourceKey, ResourceState],
                      existing: set[str]) -> bool:
    """A missing object whose namespace comes in the same sync cannot be dry-run yet."""
    if not key.namespace or _namespace_key(key.namespace) in live:
        return True
    if _namespace_key(key.namespace) in desired:
        return False
    return key.namespace in existing


def _view(obj: Obj, rs: ResourceState, rules: tuple[IgnoreRule, ...]) -> Obj:
    return apply_ignore(normalize(obj), rules_for(rs.key, rules), rs.live)
