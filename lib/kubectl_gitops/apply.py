"""Executing a sync plan: pre-flight dry-runs, the per-app lease, phases and waves with health waits,
hooks and their delete policies, prune, SyncFail. Every API call goes through `cluster`."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_gitops import plan
from kubectl_gitops.cluster import ApiResource, Client, resource_or_error, write_object
from kubectl_gitops.compare import ABSENT, get_pointer, jq_pointers, remove_pointer, rules_for, set_pointer
from kubectl_gitops.errors import GitopsError, Halt
from kubectl_gitops.health import is_health_ignored
from kubectl_gitops.live import parallel, parallel_results
from kubectl_gitops.model import (
    APPLY_OUT_OF_SYNC_ONLY,
    CREATE_NAMESPACE,
    FAIL_ON_SHARED_RESOURCE,
    RESPECT_IGNORE_DIFFERENCES,
    SKIP_DRY_RUN_ON_MISSING,
    TRACKING_ID,
    Obj,
    ResourceKey,
    SyncOptions,
    key_of,
    object_options,
    owning_app,
    tracking_id,
)
from kubectl_gitops.state import AppState, HealthCode, HealthStatus, ResourceState, SyncTask, TaskResult

Log = Callable[[str], None]
HealthFn = Callable[[Obj], "HealthStatus | None"]  # live object -> health; None: the kind has no check
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 10.0  # how often a health wait reports what it waits for
# A hook's result from its health: None (no health check) counts as done.
HOOK_RESULTS = {HealthCode.HEALTHY: TaskResult.HOOK_SUCCEEDED, None: TaskResult.HOOK_SUCCEEDED,
                HealthCode.DEGRADED: TaskResult.HOOK_FAILED, HealthCode.UNKNOWN: TaskResult.HOOK_FAILED}


@dataclass(frozen=True)
class SyncRequest:
    prune: bool = False
    force_prune: bool = False
    confirm_prune: bool = False
    dry_run: bool = False
    timeout: float = 300.0
    lock_namespace: str = "default"


@dataclass
class SyncOutcome:
    app: str
    tasks: list[SyncTask] = field(default_factory=list)
    ok: bool = True
    message: str = ""


# -- planning from compare results ------------------------------------------------------------------

def build_tasks(state: AppState, log: Log) -> tuple[list[SyncTask], list[SyncTask]]:
    """(apply and hook tasks in order, prune candidates) for one app."""
    app = state.app
    app_opts = SyncOptions.parse(app.sync_options, f"{app.origin}: Application {app.name}")
    tasks: list[SyncTask] = []
    prunes: list[SyncTask] = []
    for rs in state.resources:
        where = f"{rs.origin or 'live'}: {rs.key}"
        if rs.desired is not None:
            opts = app_opts.merged(object_options(rs.desired, where))
            tasks.append(SyncTask(app=app.name, key=rs.key, phase=plan.SYNC, wave=plan.wave_of(rs.desired, where),
                                  obj=rs.desired, live=rs.live, origin=rs.origin, options=opts,
                                  skip_apply=_skip_apply(rs, opts)))
        elif rs.live is not None and not rs.ignored_extraneous:
            opts = app_opts.merged(object_options(rs.live, where))
            prunes.append(SyncTask(app=app.name, key=rs.key, phase=plan.SYNC, wave=plan.wave_of(rs.live, where),
                                   obj=None, live=rs.live, options=opts, prune=True))
    for m in state.hooks:
        for t in plan.hook_tasks(app.name, m.obj, m.origin, app_opts):
            t = plan.with_generated_name(t)
            t.obj = _tracked(t.obj or {}, app.name)
            tasks.append(t)
    return plan.order(tasks), prunes


def _skip_apply(rs: ResourceState, opts: SyncOptions) -> bool:
    """An object already exactly in sync is not re-applied (the apply would be a no-op write);
    with ApplyOutOfSyncOnly, neither is one that differs only in ignored fields."""
    if rs.live is None or owning_app(rs.live, rs.key) != rs.app:
        return False
    return rs.exact or (opts.is_true(APPLY_OUT_OF_SYNC_ONLY) and not rs.out_of_sync)


def _tracked(obj: Obj, app: str) -> Obj:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("annotations", {})[TRACKING_ID] = tracking_id(app, key_of(obj))
    return obj


# -- pre-flight: everything validated before the first write ----------------------------------------

def preflight(state: AppState, tasks: list[SyncTask], prunes: list[SyncTask], client: Client,
              req: SyncRequest) -> None:
    """Server-side dry-run every object that will be written, unless compare already did (the same
    request moments ago); a no-change sync sends nothing here."""
    errors = _shared_resource_errors(tasks)
    todo = [t for t in tasks if not t.skip_apply]
    live_ns = _live_namespaces(client) if any(t.key.namespace for t in todo) else set()
    validated = {rs.key for rs in state.resources if rs.validated}
    todo = [t for t in todo if t.hook or t.key not in validated]
    results = parallel_results(lambda t: _dry_run_one(t, client, state, live_ns), todo)
    errors += [f"  {t.origin}: {t.key}: {r}" for t, r in zip(todo, results, strict=True)
               if isinstance(r, GitopsError)]
    for t in prunes:
        plan.propagation(t.options)  # a bad value is an input error, found now
    if errors:
        raise GitopsError(f"app {state.app.name}: {len(errors)} object(s) failed validation; nothing was "
                          "written:\n" + "\n".join(errors))
    allowed = [t for t in prunes if plan.prune_decision(t, prune_enabled=prune_enabled(state, req),
                                                        confirmed=req.confirm_prune).allowed]
    owned = sum(1 for rs in state.resources if rs.live is not None and owning_app(rs.live, rs.key) == state.app.name)
    why = plan.mass_prune_refusal(len(allowed), owned, sum(1 for rs in state.resources if rs.desired is not None))
    if why and not req.force_prune:
        raise GitopsError(f"app {state.app.name}: refusing to prune: {why}; nothing was written",
                          hint="check the render; pass --force-prune if this is intended")


def _shared_resource_errors(tasks: list[SyncTask]) -> list[str]:
    out = []
    for t in tasks:
        if t.live is None or not t.options.is_true(FAIL_ON_SHARED_RESOURCE):
            continue
        owner = owning_app(t.live, t.key)
        if owner and owner != t.app:
            out.append(f"  {t.origin}: {t.key}: already managed by app {owner!r} (FailOnSharedResource=true)")
    return out


def _live_namespaces(client: Client) -> set[str]:
    res = client.resource_for("", "Namespace")
    return {(o.get("metadata") or {}).get("name") or "" for o in client.list(res)} if res else set()


def _dry_run_one(t: SyncTask, client: Client, state: AppState, live_ns: set[str]) -> None:
    res = client.resource_for(t.key.group, t.key.kind)
    if res is None:
        if _crd_in(state, t.key) or t.options.is_true(SKIP_DRY_RUN_ON_MISSING):
            return  # its CRD is created earlier in this sync
        resource_or_error(client, t.key, t.origin)
        return
    obj = t.obj or {}
    ns = t.key.namespace
    if ns and ns not in live_ns:
        # The namespace is created by this sync: validate the object against an existing one.
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = "default"
    write_object(client, res, obj, t.live, t.options, dry_run=True)


def _crd_in(state: AppState, key: ResourceKey) -> bool:
    return any(rs.desired is not None and rs.key.kind == "CustomResourceDefinition"
               and (rs.desired.get("spec") or {}).get("group") == key.group
               and ((rs.desired.get("spec") or {}).get("names") or {}).get("kind") == key.kind
               for rs in state.resources)


def prune_enabled(state: AppState, req: SyncRequest) -> bool:
    return req.prune or state.app.auto_prune


# -- execution ---------------------------------------------------------------------------------------

class Runner:
    """Runs one app's tasks: steps in order, health between them, prune, PostSync, SyncFail."""

    def __init__(self, state: AppState, client: Client, health: HealthFn, req: SyncRequest, log: Log) -> None:
        self.state, self.client, self.health, self.req, self.log = state, client, health, req, log
        self.deadline = time.monotonic() + req.timeout
        self.rules = (*state.app.ignore_differences,)

    def run(self, tasks: list[SyncTask], prunes: list[SyncTask]) -> SyncOutcome:
        out = SyncOutcome(app=self.state.app.name)
        main = [t for t in tasks if t.phase != plan.SYNC_FAIL]
        fail_hooks = [t for t in tasks if t.phase == plan.SYNC_FAIL]
        self._create_namespace()
        all_steps = plan.steps(main)
        wait_all = len(all_steps) > 1
        try:
            for step in all_steps:
                if step[0].phase == plan.POST_SYNC:
                    self._prune(prunes)
                self._run_step(step, wait_all)
            if not any(s[0].phase == plan.POST_SYNC for s in all_steps):
                self._prune(prunes)
            self._wait_final(main)
        except Halt:
            raise  # stop writing now: no SyncFail hook
        except GitopsError as e:  # after the first write every failure is a failed sync
            out.ok, out.message = False, str(e)
            self.log(f"{self.state.app.name}: sync failed: {e}")
            if fail_hooks:
                self.log(f"{self.state.app.name}: running {len(fail_hooks)} SyncFail hook(s)")
                try:
                    for step in plan.steps(fail_hooks):
                        self._run_step(step, True)
                except GitopsError as e2:
                    out.message += f"; SyncFail hook failed: {e2}"
        out.tasks = [*main, *fail_hooks, *prunes]
        return out

    # steps

    def _run_step(self, step: list[SyncTask], wait: bool) -> None:
        t0 = step[0]
        self.log(f"{self.state.app.name}: phase {t0.phase} wave {t0.wave}: {len(step)} object(s)")
        hooks = [t for t in step if t.hook]
        for t in hooks:
            if plan.BEFORE_HOOK_CREATION in t.delete_policies:
                self._delete_and_wait(t)
        for group in plan.kind_groups(step):
            for t in group:
                if t.skip_apply:
                    t.result = TaskResult.UNCHANGED
            todo = [t for t in group if not t.skip_apply]
            results = parallel_results(self._apply, todo)
            failed = [(t, r) for t, r in zip(todo, results, strict=True) if isinstance(r, GitopsError)]
            for t, r in failed:
                t.result, t.message = TaskResult.FAILED, str(r)
            halts = [r for _, r in failed if isinstance(r, Halt)]
            if halts:
                for t, r in failed:  # never sent: not a failure of the object
                    if isinstance(r, Halt):
                        t.result, t.message = None, ""
                raise halts[0]
            if failed:
                raise _SyncFailed(f"{len(failed)} object(s) failed to apply, first: {failed[0][0].key}: "
                                  f"{failed[0][1]}")
        try:
            if wait or hooks:
                self._wait_healthy(step)
        finally:  # a failed hook is cleaned up (HookFailed) before the failure propagates
            for t in hooks:
                self._hook_cleanup(t)

    def _apply(self, t: SyncTask) -> None:
        res = self.client.resource_for(t.key.group, t.key.kind)
        while res is None:  # a custom resource whose CRD was just created: wait until it is served
            self._check_deadline(f"waiting for the API of {t.key} to be served")
            time.sleep(POLL_SECONDS / 2)
            self.client.forget_discovery()
            res = self.client.resource_for(t.key.group, t.key.kind)
        obj = self._respect_ignored(t)
        after = write_object(self.client, res, obj, t.live, t.options, dry_run=False)
        if t.hook:
            t.result = TaskResult.HOOK_CREATED
        elif t.live is None:
            t.result = TaskResult.CREATED
        else:
            before = (t.live.get("metadata") or {}).get("resourceVersion")
            same = (after.get("metadata") or {}).get("resourceVersion") == before
            t.result = TaskResult.UNCHANGED if same else TaskResult.CONFIGURED

    def _respect_ignored(self, t: SyncTask) -> Obj:
        """RespectIgnoreDifferences: keep live values at ignored JSON pointers instead of Git's."""
        obj = t.obj or {}
        if t.live is None or not t.options.is_true(RESPECT_IGNORE_DIFFERENCES):
            return obj
        ignore = rules_for(t.key, self.rules)
        if not ignore.pointers and not ignore.jq:
            return obj
        obj = copy.deepcopy(obj)
        for p in ignore.pointers:
            _keep_live_value(obj, t.live, p)
        for expr in ignore.jq:  # what the expression selects in Git goes; what it selects live stays
            for p in jq_pointers(obj, expr):
                remove_pointer(obj, p)
            for p in reversed(jq_pointers(t.live, expr)):  # in document order
                _keep_selected_live_value(obj, t.live, p)
        return obj

    def _create_namespace(self) -> None:
        app = self.state.app
        opts = SyncOptions.parse(app.sync_options, app.origin)
        if not opts.is_true(CREATE_NAMESPACE) or not app.dest_namespace:
            return
        res = resource_or_error(self.client, ResourceKey("", "Namespace", "", app.dest_namespace), app.origin)
        meta: Obj = {"name": app.dest_namespace}
        mnm = app.managed_namespace_metadata or {}
        if mnm.get("labels"):
            meta["labels"] = mnm["labels"]
        if mnm.get("annotations"):
            meta["annotations"] = mnm["annotations"]
        exists = self.client.get(res, "", app.dest_namespace) is not None
        if exists and len(meta) == 1:
            return
        self.client.apply(res, {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}, dry_run=False)
        self.log(f"{app.name}: namespace {app.dest_namespace} {'updated' if exists else 'created'}")

    # hooks

    def _delete_and_wait(self, t: SyncTask) -> None:
        res = resource_or_error(self.client, t.key, t.origin)
        if self.client.delete(res, t.key.namespace, t.key.name, propagation="Foreground"):
            self.client.wait_gone(res, t.key.namespace, t.key.name, max(1.0, self.deadline - time.monotonic()))

    def _hook_cleanup(self, t: SyncTask) -> None:
        if t.result not in (TaskResult.HOOK_SUCCEEDED, TaskResult.HOOK_FAILED):
            return  # still running (the sync timed out or another object failed first)
        succeeded = t.result == TaskResult.HOOK_SUCCEEDED
        if (succeeded and plan.HOOK_SUCCEEDED in t.delete_policies) or (
                not succeeded and plan.HOOK_FAILED in t.delete_policies):
            res = resource_or_error(self.client, t.key, t.origin)
            self.client.delete(res, t.key.namespace, t.key.name, propagation="Background")

    # health

    def _wait_healthy(self, step: list[SyncTask]) -> None:
        pending = [t for t in step if t.result != TaskResult.UNCHANGED or not t.hook]
        # While nothing has been written, each object is as compare listed it moments ago: fetched again
        # only if it has to be waited for (a no-change sync lists nothing here).
        known = {t.key: t.live for t in pending if t.live is not None} if self.client.writes == 0 else {}
        next_log, delay = time.monotonic(), POLL_SECONDS / 8
        while True:
            live = {**known, **self._fetch([t for t in pending if t.key not in known])}
            known = {}
            waiting = []
            for t in pending:
                obj = live.get(t.key)
                h = HealthStatus(HealthCode.MISSING, "not found") if obj is None else self.health(obj)
                if h is not None and obj is not None and is_health_ignored(obj):
                    h = None  # no health check: never blocks a wave
                status, message = (h.status, h.message) if h is not None else (None, "")
                t.health, t.message = status, message
                if t.hook:
                    t.result = HOOK_RESULTS.get(status, TaskResult.HOOK_RUNNING)
                if status == HealthCode.DEGRADED or (t.hook and status == HealthCode.UNKNOWN):
                    raise _SyncFailed(f"{t.key} is {status}: {message}")
                if status not in (HealthCode.HEALTHY, None):
                    waiting.append(t)
            if not waiting:
                return
            doing = (f"waiting for {len(waiting)} object(s) to become healthy, e.g. {waiting[0].key} "
                     f"({waiting[0].health}: {waiting[0].message})")
            self._check_deadline(doing)
            if time.monotonic() >= next_log:  # progress for a CI log: at the start, then now and then
                self.log(f"{self.state.app.name}: {doing}")
                next_log = time.monotonic() + PROGRESS_SECONDS
            time.sleep(delay)  # short at first: most objects turn healthy within a second
            delay, pending = min(POLL_SECONDS, delay * 2), waiting

    def _wait_final(self, tasks: list[SyncTask]) -> None:
        """Exit 0 means synced and healthy: the last step's health is awaited too."""
        self._wait_healthy([t for t in tasks if not t.hook and t.result in (TaskResult.CREATED, TaskResult.CONFIGURED,
                                                                     TaskResult.UNCHANGED)])

    def _fetch(self, tasks: list[SyncTask]) -> dict[ResourceKey, Obj]:
        """One LIST per kind and namespace, not one GET per object."""
        groups: dict[tuple[ApiResource, str], None] = {}
        for t in tasks:
            res = self.client.resource_for(t.key.group, t.key.kind)
            if res is not None:
                groups[(res, t.key.namespace if res.namespaced else "")] = None
        out: dict[ResourceKey, Obj] = {}
        for items in parallel(lambda g: self.client.list(*g), list(groups)):
            for o in items:
                out[key_of(o)] = o
        return out

    def _check_deadline(self, doing: str) -> None:
        if time.monotonic() > self.deadline:
            raise _SyncFailed(f"timed out after {self.req.timeout:.0f}s {doing}")

    # prune

    def _prune(self, prunes: list[SyncTask]) -> None:
        todo = []
        for t in prunes:
            d = plan.prune_decision(t, prune_enabled=prune_enabled(self.state, self.req),
                                    confirmed=self.req.confirm_prune)
            if d.allowed:
                todo.append(t)
            else:
                t.result, t.message = TaskResult.PRUNE_SKIPPED, d.reason
        if not todo:
            return
        self.log(f"{self.state.app.name}: pruning {len(todo)} object(s)")
        for t in plan.prune_order(todo):
            res = resource_or_error(self.client, t.key, "prune")
            self.client.delete(res, t.key.namespace, t.key.name, propagation=plan.propagation(t.options))
            t.result = TaskResult.PRUNED


class _SyncFailed(GitopsError):
    """The sync started writing and then failed: exit 1, and the SyncFail hooks run."""


def _keep_live_value(obj: Obj, live: Obj, pointer: str) -> None:
    """Git's value at `pointer` is replaced by the live one (or dropped when there is none live)."""
    live_value = get_pointer(live, pointer)
    remove_pointer(obj, pointer)
    if live_value is not ABSENT:
        set_pointer(obj, pointer, copy.deepcopy(live_value))


def _keep_selected_live_value(obj: Obj, live: Obj, pointer: str) -> None:
    """Like `_keep_live_value`, but a list item is appended: jq selected it by what it holds, not by
    its position, and Git's items it selected are already gone."""
    parent, _, _ = pointer.rpartition("/")
    if not isinstance(get_pointer(live, parent) if parent else live, list):
        _keep_live_value(obj, live, pointer)
        return
    if parent and get_pointer(obj, parent) is ABSENT:
        set_pointer(obj, parent, [])
    items = get_pointer(obj, parent) if parent else obj
    if isinstance(items, list):
        items.append(copy.deepcopy(get_pointer(live, pointer)))
