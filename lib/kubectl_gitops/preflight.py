"""Pre-flight: every check a sync must pass before its first write, all reported together.

A check is a function `(plan, context) -> list[Violation]`; `CHECKS` lists them in the order their
findings are reported. A new policy (an AppProject's destinations, a sync window) is one more function
appended there. Checks only read: the server-side dry-runs they send write nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubectl_gitops import plan, policy
from kubectl_gitops.cluster import Client, resource_or_error
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.live import parallel_results
from kubectl_gitops.model import FAIL_ON_SHARED_RESOURCE, SKIP_DRY_RUN_ON_MISSING, ResourceKey, owning_app
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import SyncRequest, SyncStatus, SyncTask
from kubectl_gitops.writes import write_object


@dataclass(frozen=True)
class Violation:
    category: str  # "validation", "prune", "options", ...: what kind of rule was broken
    message: str  # names the file/object and the cause
    hint: str = ""


@dataclass
class Context:
    """What checks may read: the cluster (read-only, dry-runs), the request and argocd-cm."""

    client: Client
    request: SyncRequest
    settings: Settings
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # what sync windows are evaluated at

    def live_namespaces(self) -> set[str]:
        res = self.client.resource_for("", "Namespace")
        return {(o.get("metadata") or {}).get("name") or "" for o in self.client.list(res)} if res else set()


Check = Callable[[AppPlan, Context], list[Violation]]


def shared_resources(p: AppPlan, ctx: Context) -> list[Violation]:
    """FailOnSharedResource=true: an object another app already manages is not taken over."""
    out = []
    for t in p.tasks:
        if t.live is None or not t.options.is_true(FAIL_ON_SHARED_RESOURCE):
            continue
        owner = owning_app(t.live, t.key)
        if owner and owner != t.app:
            out.append(Violation("validation", f"{t.origin}: {t.key}: already managed by app {owner!r} "
                                               "(FailOnSharedResource=true)"))
    return out


def server_dry_run(p: AppPlan, ctx: Context) -> list[Violation]:
    """Server-side dry-run of every object that will be written, unless compare already sent the same
    request moments ago; a no-change sync sends nothing here."""
    todo = [t for t in p.tasks if not t.skip_apply]
    live_ns = ctx.live_namespaces() if any(t.key.namespace for t in todo) else set()
    # Objects the project refuses are not sent: the project check reports them.
    validated = {rs.key for rs in p.state.resources if rs.validated or rs.status == SyncStatus.UNKNOWN}
    todo = [t for t in todo if t.hook or t.key not in validated]
    results = parallel_results(lambda t: _dry_run_one(t, p, ctx.client, live_ns), todo)
    return [Violation("validation", f"{t.origin}: {t.key}: {r}")
            for t, r in zip(todo, results, strict=True) if isinstance(r, GitopsError)]


def prune_options(p: AppPlan, ctx: Context) -> list[Violation]:
    out = []
    for t in p.prunes:
        try:
            plan.propagation(t.options)
        except GitopsError as e:
            out.append(Violation("options", f"{t.key}: {e.message}", e.hint or ""))
    return out


def mass_prune(p: AppPlan, ctx: Context) -> list[Violation]:
    """A broken render looks like "delete everything": refused without --force-prune."""
    if ctx.request.force_prune:
        return []
    resources = p.state.resources
    owned = sum(1 for rs in resources if rs.live is not None and owning_app(rs.live, rs.key) == p.app)
    why = plan.mass_prune_refusal(len(p.to_prune), owned, sum(1 for rs in resources if rs.desired is not None))
    if not why:
        return []
    return [Violation("prune", f"refusing to prune: {why}",
                      "check the render; pass --force-prune if this is intended")]


def project(p: AppPlan, ctx: Context) -> list[Violation]:
    """The app's AppProject: a refused app, or a refused object, is never synced."""
    return [Violation("project", m) for m in policy.project_violations(p.state)]


def sync_windows(p: AppPlan, ctx: Context) -> list[Violation]:
    """The project's sync windows, for a manual (or, from watch, an automated) sync now."""
    return [Violation("sync window", m, "wait for the window, or set manualSync on it")
            for m in policy.window_violations(p.state, at=ctx.now, manual=not ctx.request.automated)]


CHECKS: list[Check] = [project, sync_windows, shared_resources, server_dry_run, prune_options, mass_prune]


def violations(p: AppPlan, ctx: Context, checks: list[Check] = CHECKS) -> list[Violation]:
    return [v for check in checks for v in check(p, ctx)]


def check_all(plans: list[AppPlan], ctx: Context, checks: list[Check] = CHECKS) -> None:
    """Raise one error naming every violation of every app; nothing has been written."""
    found = [(p.app, v) for p in plans for v in violations(p, ctx, checks)]
    if not found:
        return
    apps = sorted({a for a, _ in found})
    lines = [f"  app {a}: {v.category}: {v.message}" for a, v in found]
    hints = list(dict.fromkeys(v.hint for _, v in found if v.hint))
    raise GitopsError(f"app {', '.join(apps)}: {len(found)} pre-flight problem(s); nothing was written:\n"
                      + "\n".join(lines), hint="; ".join(hints) or None)


def _dry_run_one(t: SyncTask, p: AppPlan, client: Client, live_ns: set[str]) -> None:
    res = client.resource_for(t.key.group, t.key.kind)
    if res is None:
        if _crd_in(p, t.key) or t.options.is_true(SKIP_DRY_RUN_ON_MISSING):
            return  # its CRD is created earlier in this sync
        resource_or_error(client, t.key, t.origin)
        return
    obj = t.obj or {}
    if t.key.namespace and t.key.namespace not in live_ns:
        # The namespace is created by this sync: validate the object against an existing one.
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = "default"
    write_object(client, res, obj, t.live, t.options, dry_run=True)


def _crd_in(p: AppPlan, key: ResourceKey) -> bool:
    return any(rs.desired is not None and rs.key.kind == "CustomResourceDefinition"
               and (rs.desired.get("spec") or {}).get("group") == key.group
               and ((rs.desired.get("spec") or {}).get("names") or {}).get("kind") == key.kind
               for rs in p.state.resources)
