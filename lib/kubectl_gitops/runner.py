"""Executing one app's plan: steps in order (health awaited between them when the sync has more than
one), hooks and their delete policies, prune, SyncFail. It decides nothing the plan has not; every
API call goes through `cluster`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubectl_gitops import model, plan, policy
from kubectl_gitops.apps import App
from kubectl_gitops.cluster import ApiError, Client, resource_or_error
from kubectl_gitops.errors import GitopsError, Halt
from kubectl_gitops.health import worst
from kubectl_gitops.live import parallel_results
from kubectl_gitops.model import CREATE_NAMESPACE, Obj, ResourceKey, SyncOptions
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.state import AppSyncResult, OperationPhase, Phase, SyncRequest, SyncTask, TaskResult
from kubectl_gitops.waits import POLL_SECONDS, Deadline, HealthFn, HealthWait, SyncFailed
from kubectl_gitops.writes import write_object

Log = Callable[[str], None]
APPLIED = (TaskResult.CREATED, TaskResult.CONFIGURED, TaskResult.UNCHANGED)


class Runner:
    def __init__(self, client: Client, health: HealthFn, req: SyncRequest, log: Log) -> None:
        self.client, self.health, self.req, self.log = client, health, req, log

    def run(self, p: AppPlan) -> AppSyncResult:
        out = AppSyncResult(app=p.app, source=p.state.source_label, revision=p.state.revision,
                            started_at=datetime.now(UTC), cluster=p.state.cluster)
        self.deadline = Deadline(self.req.timeout)
        self.waits = HealthWait(self.client, self.health, self.deadline, self.log, p.app)
        create_namespace(self.client, p.state.app, self.log)
        all_steps = plan.steps(p.main)
        try:
            for step in all_steps:
                stop = policy.overrun_violation(p.state, at=datetime.now(UTC), manual=not self.req.automated)
                if stop:
                    raise SyncFailed(f"sync window: {stop}")
                if step[0].phase == Phase.POST_SYNC:
                    self._prune(p)
                self._run_step(step, p.multi_step)
            if not any(s[0].phase == Phase.POST_SYNC for s in all_steps):
                self._prune(p)
            applied = [t for t in p.main if not t.hook and t.result in APPLIED]
            if p.multi_step or self.req.wait:
                self.waits.wait(applied)  # exit 0 means synced and healthy: the last step too
            else:
                self.waits.observe(applied)  # a single step ends when applied, health as it is
            out.phase = OperationPhase.SUCCEEDED
        except Halt as e:  # stop writing now (no SyncFail hook); report what was done
            out.phase, out.message, out.stopped = OperationPhase.FAILED, str(e), e
            self.log(f"{p.app}: sync stopped: {e}")
            out.tasks = [t for t in [*p.main, *p.fail_hooks, *p.prunes] if t.result is not None]
            out.finished_at = datetime.now(UTC)
            return out
        except GitopsError as e:  # after the first write every failure is a failed sync
            out.phase, out.message = OperationPhase.FAILED, str(e)
            out.unreachable = isinstance(e, ApiError) and e.status == 0
            self.log(f"{p.app}: sync failed: {e}")
            self._sync_fail(p, out)
        out.tasks = [*p.main, *p.fail_hooks, *p.prunes]
        # The app's health as this sync last saw its objects (child Applications have none here).
        out.health = worst(t.health for t in p.main if not t.hook and t.health is not None)
        out.finished_at = datetime.now(UTC)
        return out

    def _sync_fail(self, p: AppPlan, out: AppSyncResult) -> None:
        if not p.fail_hooks:
            return
        self.log(f"{p.app}: running {len(p.fail_hooks)} SyncFail hook(s)")
        try:
            for step in plan.steps(p.fail_hooks):
                self._run_step(step, True)
        except GitopsError as e:
            out.message += f"; SyncFail hook failed: {e}"

    def _run_step(self, step: list[SyncTask], wait: bool) -> None:
        t0 = step[0]
        self.log(f"{t0.app}: phase {t0.phase} wave {t0.wave}: {len(step)} object(s)")
        hooks = [t for t in step if t.hook]
        for t in hooks:
            if model.BEFORE_HOOK_CREATION in t.delete_policies:
                self._delete_and_wait(t)
        for group in plan.kind_groups(step):
            for t in group:
                if t.skip_apply:
                    t.result = TaskResult.UNCHANGED
            todo = [t for t in group if not t.skip_apply]
            _raise_failures(todo, parallel_results(self._apply, todo))
        try:
            if wait or hooks:
                self.waits.wait(step)
        finally:  # a failed hook is cleaned up (HookFailed) before the failure propagates
            for t in hooks:
                self._hook_cleanup(t)

    def _apply(self, t: SyncTask) -> None:
        res = self.client.resource_for(t.key.group, t.key.kind)
        while res is None:  # a custom resource whose CRD was just created: wait until it is served
            self.deadline.check(f"waiting for the API of {t.key} to be served")
            time.sleep(POLL_SECONDS / 2)
            self.client.forget_discovery()
            res = self.client.resource_for(t.key.group, t.key.kind)
        t.result = _applied_result(t, write_object(self.client, res, t.obj or {}, t.live, t.options, dry_run=False))

    def _delete_and_wait(self, t: SyncTask) -> None:
        res = resource_or_error(self.client, t.key, t.origin)
        if self.client.delete(res, t.key.namespace, t.key.name, propagation="Foreground"):
            self.client.wait_gone(res, t.key.namespace, t.key.name, self.deadline.left())

    def _hook_cleanup(self, t: SyncTask) -> None:
        if t.result not in (TaskResult.HOOK_SUCCEEDED, TaskResult.HOOK_FAILED):
            return  # still running (the sync timed out or another object failed first)
        policy = model.HOOK_SUCCEEDED if t.result == TaskResult.HOOK_SUCCEEDED else model.HOOK_FAILED
        if policy in t.delete_policies:
            res = resource_or_error(self.client, t.key, t.origin)
            self.client.delete(res, t.key.namespace, t.key.name, propagation="Background")

    def _prune(self, p: AppPlan) -> None:
        for t in p.prunes:
            if t.prune_skipped:
                t.result, t.message = TaskResult.PRUNE_SKIPPED, t.prune_skipped
        todo = p.to_prune
        if not todo:
            return
        self.log(f"{p.app}: pruning {len(todo)} object(s)")
        for t in plan.prune_order(todo):
            res = resource_or_error(self.client, t.key, "prune")
            self.client.delete(res, t.key.namespace, t.key.name, propagation=plan.propagation(t.options))
            t.result = TaskResult.PRUNED


def _raise_failures(todo: list[SyncTask], results: list[GitopsError | None]) -> None:
    """Mark the objects whose apply failed; raise a Halt as it came, else one SyncFailed naming the first."""
    failed = [(t, r) for t, r in zip(todo, results, strict=True) if isinstance(r, GitopsError)]
    for t, r in failed:
        t.result, t.message = TaskResult.FAILED, str(r)
    halts = [(t, r) for t, r in failed if isinstance(r, Halt)]
    for t, _ in halts:  # never sent: not a failure of the object
        t.result, t.message = None, ""
    if halts:
        raise halts[0][1]
    if failed:
        raise SyncFailed(f"{len(failed)} object(s) failed to apply, first: {failed[0][0].key}: {failed[0][1]}")


def _applied_result(t: SyncTask, after: Obj) -> TaskResult:
    """An applied object's result: unchanged when the apply left its resourceVersion as it was."""
    if t.hook:
        return TaskResult.HOOK_CREATED
    if t.live is None:
        return TaskResult.CREATED
    same = (after.get("metadata") or {}).get("resourceVersion") == (t.live.get("metadata") or {}).get(
        "resourceVersion")
    return TaskResult.UNCHANGED if same else TaskResult.CONFIGURED


def create_namespace(client: Client, app: App, log: Log) -> None:
    """CreateNamespace=true: the destination namespace, with managedNamespaceMetadata."""
    opts = SyncOptions.parse(app.sync_options, app.origin)
    if not opts.is_true(CREATE_NAMESPACE) or not app.dest_namespace:
        return
    res = resource_or_error(client, ResourceKey("", "Namespace", "", app.dest_namespace), app.origin)
    meta: Obj = {"name": app.dest_namespace}
    mnm = app.managed_namespace_metadata or {}
    if mnm.get("labels"):
        meta["labels"] = mnm["labels"]
    if mnm.get("annotations"):
        meta["annotations"] = mnm["annotations"]
    exists = client.get(res, "", app.dest_namespace) is not None
    if exists and len(meta) == 1:
        return
    client.apply(res, {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}, dry_run=False)
    log(f"{app.name}: namespace {app.dest_namespace} {'updated' if exists else 'created'}")
