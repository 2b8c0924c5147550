"""Pure sync planning: from an app's compare result to the tasks a runner executes, in order, with
every decision taken here: phases, waves, kind order, hooks, what to skip, what to prune.

Ordering follows gitops-engine: phase, wave, kind rank, name; then each Namespace moves before the
first object in it and each CRD before its first custom resource.
"""

from __future__ import annotations

import copy
import secrets
import string
from dataclasses import dataclass, field, replace

from kubectl_gitops.compare import respect_ignored, rules_for
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import (
    APPLY_OUT_OF_SYNC_ONLY,
    DELETE,
    HOOK_SKIP,
    PRUNE,
    PRUNE_PROPAGATION,
    RESPECT_IGNORE_DIFFERENCES,
    TRACKING_ID,
    Obj,
    SyncOptions,
    hook_delete_policies,
    hook_types,
    key_of,
    object_options,
    owning_app,
    sync_wave,
    tracking_id,
)
from kubectl_gitops.state import AppState, Phase, ResourceState, SyncRequest, SyncTask

PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL = Phase.PRE_SYNC, Phase.SYNC, Phase.POST_SYNC, Phase.SYNC_FAIL
PHASES = tuple(Phase)

KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet",
    "Pod", "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet",
    "Job", "CronJob", "IngressClass", "Ingress", "APIService",
)
KIND_RANK = {k: i - len(KIND_ORDER) for i, k in enumerate(KIND_ORDER)}  # known kinds negative: unknown last

@dataclass
class AppPlan:
    """One app's sync, decided: apply and hook tasks in order, prune candidates (each with its
    decision), and whether health is awaited between steps."""

    state: AppState
    tasks: list[SyncTask] = field(default_factory=list)
    prunes: list[SyncTask] = field(default_factory=list)

    @property
    def app(self) -> str:
        return self.state.app.name

    @property
    def main(self) -> list[SyncTask]:
        return [t for t in self.tasks if t.phase != Phase.SYNC_FAIL]

    @property
    def fail_hooks(self) -> list[SyncTask]:
        return [t for t in self.tasks if t.phase == Phase.SYNC_FAIL]

    @property
    def to_prune(self) -> list[SyncTask]:
        return [t for t in self.prunes if not t.prune_skipped]

    @property
    def multi_step(self) -> bool:
        """More than one phase or wave: each step's objects are awaited before the next (gitops-engine)."""
        return len(steps(self.main)) > 1

    @property
    def has_writes(self) -> bool:
        return any(not t.skip_apply for t in self.tasks) or bool(self.to_prune)


def build(state: AppState, req: SyncRequest) -> AppPlan:
    """The plan for one app: what compare found, turned into ordered tasks."""
    app = state.app
    app_opts = SyncOptions.parse(app.sync_options, f"{app.origin}: Application {app.name}")
    prune_enabled = req.prune or app.auto_prune
    out = AppPlan(state)
    for rs in state.resources:
        where = f"{rs.origin or 'live'}: {rs.key}"
        if rs.desired is not None:
            opts = app_opts.merged(object_options(rs.desired, where))
            out.tasks.append(SyncTask(app=app.name, key=rs.key, phase=SYNC, wave=sync_wave(rs.desired, where),
                                      obj=_to_apply(rs, opts, state), live=rs.live, origin=rs.origin,
                                      options=opts, skip_apply=_skip_apply(rs, opts)))
        elif rs.live is not None and not rs.ignored_extraneous:
            opts = app_opts.merged(object_options(rs.live, where))
            t = SyncTask(app=app.name, key=rs.key, phase=SYNC, wave=sync_wave(rs.live, where), obj=None,
                         live=rs.live, options=opts, prune=True)
            t.prune_skipped = prune_decision(t, prune_enabled=prune_enabled, confirmed=req.confirm_prune).reason
            out.prunes.append(t)
    for m in state.hooks:
        for t in hook_tasks(app.name, m.obj, m.origin, app_opts):
            t = with_generated_name(t)
            t.obj = _tracked(t.obj or {}, app.name)
            out.tasks.append(t)
    out.tasks = order(out.tasks)
    return out


def action(t: SyncTask) -> str:
    """What the plan will do with a task, as `sync --dry-run` shows it."""
    if t.prune:
        return f"pruneSkipped: {t.prune_skipped}" if t.prune_skipped else "prune"
    if t.hook:
        return f"hook ({','.join(sorted(t.delete_policies))})"
    return "unchanged" if t.skip_apply else ("create" if t.live is None else "apply")


def _skip_apply(rs: ResourceState, opts: SyncOptions) -> bool:
    """An object already exactly in sync is not re-applied (the apply would be a no-op write);
    with ApplyOutOfSyncOnly, neither is one that differs only in ignored fields."""
    if rs.live is None or owning_app(rs.live, rs.key) != rs.app:
        return False
    return rs.exact or (opts.is_true(APPLY_OUT_OF_SYNC_ONLY) and not rs.out_of_sync)


def _to_apply(rs: ResourceState, opts: SyncOptions, state: AppState) -> Obj | None:
    """RespectIgnoreDifferences: live values at the app's ignored paths are kept instead of Git's."""
    if rs.live is None or rs.desired is None or not opts.is_true(RESPECT_IGNORE_DIFFERENCES):
        return rs.desired
    return respect_ignored(rs.desired, rs.live, rules_for(rs.key, state.app.ignore_differences))


def _tracked(obj: Obj, app: str) -> Obj:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("annotations", {})[TRACKING_ID] = tracking_id(app, key_of(obj))
    return obj


def kind_rank(t: SyncTask) -> int:
    return KIND_RANK.get(t.key.kind, 0)


def sort_key(t: SyncTask) -> tuple[int, int, int, str]:
    return (t.phase.rank, t.wave, kind_rank(t), t.key.name)


def hook_tasks(app: str, obj: Obj, origin: str, app_options: SyncOptions) -> list[SyncTask]:
    where = f"{origin}: {key_of(obj)}"
    phases = hook_types(obj, where)
    if HOOK_SKIP in phases:
        return []
    opts = app_options.merged(object_options(obj, where))
    policies = hook_delete_policies(obj, where)
    return [SyncTask(app=app, key=key_of(obj), phase=Phase(p), wave=sync_wave(obj, where), obj=obj, origin=origin,
                     hook=True, delete_policies=policies, options=opts) for p in phases]


def with_generated_name(task: SyncTask) -> SyncTask:
    """A hook with generateName gets a fresh name for every sync run."""
    meta = (task.obj or {}).get("metadata") or {}
    if meta.get("name") or not meta.get("generateName"):
        return task
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    obj = {**(task.obj or {}), "metadata": {**meta, "name": meta["generateName"] + suffix}}
    obj["metadata"].pop("generateName")
    return replace(task, obj=obj, key=key_of(obj))


def order(tasks: list[SyncTask]) -> list[SyncTask]:
    """Sort, then pull each Namespace before the first object in it and each CRD before its first
    custom resource, whatever their waves say (taking that object's phase and wave)."""
    ordered = sorted(tasks, key=sort_key)
    for mover, owns in ((_is_namespace, _in_namespace), (_is_crd, _is_resource_of)):
        for t in [t for t in ordered if mover(t)]:
            first = next((i for i, o in enumerate(ordered) if o is not t and owns(o, t)), None)
            if first is not None and ordered.index(t) > first:
                ordered.remove(t)
                t.phase, t.wave = ordered[first].phase, ordered[first].wave
                ordered.insert(first, t)
    return ordered


def _is_namespace(t: SyncTask) -> bool:
    return t.key.group == "" and t.key.kind == "Namespace"


def _in_namespace(o: SyncTask, ns: SyncTask) -> bool:
    return o.key.namespace == ns.key.name


def _is_crd(t: SyncTask) -> bool:
    return t.key.kind == "CustomResourceDefinition"


def _is_resource_of(o: SyncTask, crd: SyncTask) -> bool:
    spec = (crd.obj or {}).get("spec") or {}
    return o.key.group == spec.get("group") and o.key.kind == (spec.get("names") or {}).get("kind")


def steps(tasks: list[SyncTask]) -> list[list[SyncTask]]:
    """Ordered tasks grouped into (phase, wave) steps; within a step, kind groups run one after another."""
    out: list[list[SyncTask]] = []
    for t in tasks:
        if out and (out[-1][0].phase, out[-1][0].wave) == (t.phase, t.wave):
            out[-1].append(t)
        else:
            out.append([t])
    return out


def kind_groups(step: list[SyncTask]) -> list[list[SyncTask]]:
    out: list[list[SyncTask]] = []
    for t in step:
        if out and kind_rank(out[-1][0]) == kind_rank(t) and out[-1][0].key.kind == t.key.kind:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def prune_order(prunes: list[SyncTask]) -> list[SyncTask]:
    """Prunes run after every apply succeeded, highest wave first, dependents before Namespaces/CRDs."""
    return sorted(prunes, key=lambda t: (-t.wave, -kind_rank(t), t.key.name))


@dataclass(frozen=True)
class PruneDecision:
    allowed: bool
    reason: str = ""


def prune_decision(task: SyncTask, *, prune_enabled: bool, confirmed: bool) -> PruneDecision:
    if task.options.is_false(PRUNE) or task.options.is_false(DELETE):
        return PruneDecision(False, "Prune=false")
    if (task.options.get(PRUNE) or "").lower() == "confirm" and not confirmed:
        return PruneDecision(False, "Prune=confirm: rerun with --confirm-prune")
    if not prune_enabled:
        return PruneDecision(False, "pruning disabled: use --prune or syncPolicy.automated.prune")
    return PruneDecision(True)


def mass_prune_refusal(n_prunes: int, n_owned: int, n_desired: int) -> str | None:
    """Why pruning this many objects is refused without --force-prune (a broken render looks like
    "delete everything")."""
    if n_prunes and n_desired == 0:
        return f"the render is empty and would prune all {n_prunes} object(s) of the app"
    if n_prunes and n_owned and n_prunes * 2 > n_owned:
        return f"prune would delete {n_prunes} of the app's {n_owned} objects (more than half)"
    return None


def propagation(options: SyncOptions) -> str:
    value = (options.get(PRUNE_PROPAGATION) or "foreground").lower()
    policies = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}
    if value not in policies:
        raise GitopsError(f"unknown {PRUNE_PROPAGATION} {value!r}", hint="foreground, background or orphan")
    return policies[value]
