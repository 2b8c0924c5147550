"""The steps of a run, each callable on its own (the CLI and a watch loop both use them):
compare → plan → preflight → lock → run. Rendering the outcome is report's job."""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from kubectl_gitops import plan
from kubectl_gitops.apps import is_application
from kubectl_gitops.cluster import Client
from kubectl_gitops.engine import CompareOptions, Hooks, compare_target
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.fleet import Fleet, unreachable
from kubectl_gitops.health import HealthChecker, assess_health
from kubectl_gitops.model import Obj
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, AppSyncResult, HealthStatus, OperationPhase, SyncRequest, SyncResult

if TYPE_CHECKING:
    from kubectl_gitops.lease import AppLock
    from kubectl_gitops.record import AppRecord

# The steps after compare (preflight, lease, runner, record) are imported when a sync reaches them:
# diff and status never do, and start faster without them.

Log = Callable[[str], None]
T = TypeVar("T")
R = TypeVar("R")


def compare(fleet: Fleet, opts: CompareOptions, log: Log,
            hooks: Hooks | None = None) -> tuple[list[AppState], Settings]:
    """Every app of the target compared with its cluster, and the argocd-cm settings it used."""
    return compare_target(opts, fleet, log, hooks or Hooks())


def assess(states: list[AppState], settings: Settings) -> HealthChecker:
    """Each object's and app's health (in place); the checker a sync keeps using."""
    return assess_health(states, settings.health)


def plan_all(states: list[AppState], req: SyncRequest) -> list[AppPlan]:
    """Plans of the apps that were compared (not those whose cluster did not answer)."""
    return [plan.build(st, req) for st in states if not st.error]


def by_cluster(plans: list[AppPlan], fleet: Fleet) -> list[tuple[Client, list[AppPlan]]]:
    """The plans of each cluster, in order."""
    out: dict[int, tuple[Client, list[AppPlan]]] = {}
    for p in plans:
        client = fleet.client_of(p.state.app)
        out.setdefault(id(client), (client, []))[1].append(p)
    return list(out.values())


def check(plans: list[AppPlan], fleet: Fleet, req: SyncRequest, settings: Settings) -> list[AppPlan]:
    """Every pre-flight check of every app, each cluster's apps alongside the others', before the
    first write to any; raises one error naming all violations. Returns the plans still to run: a
    cluster other than the run's own that stops answering fails its apps (their state says why)."""
    from kubectl_gitops import preflight

    groups = by_cluster(plans, fleet)

    def one(group: tuple[Client, list[AppPlan]]) -> str:
        client, mine = group
        try:
            preflight.check_all(mine, preflight.Context(client, req, settings))
        except GitopsError as e:
            if client is fleet.management or not unreachable(e):
                return str(e)
            for p in mine:
                p.state.error = str(e)
        return ""

    problems = [m for m in _alongside(one, groups) if m]
    if problems:
        raise GitopsError("\n".join(problems))
    return [p for p in plans if not p.state.error]


@contextlib.contextmanager
def locked(plans: list[AppPlan], fleet: Fleet, namespace: str) -> Iterator[None]:
    """Hold each app's Lease, on the app's own cluster, while the block runs. An app with nothing to
    write needs no lock: a no-change sync sends no write at all. A cluster that stops answering
    meanwhile fails its apps (their state says why, and `run` skips them); the others go on."""
    from kubectl_gitops.lease import AppLock

    held: list[AppLock] = []
    try:
        for p in plans:
            client = fleet.client_of(p.state.app)
            if p.has_writes and not p.state.error:
                lock = AppLock(client, p.app, namespace)
                try:
                    lock.acquire()
                except GitopsError as e:
                    if not unreachable(e):
                        raise
                    for q in plans:
                        if fleet.client_of(q.state.app) is client:
                            q.state.error = str(e)
                    continue
                held.append(lock)
        yield
    finally:
        for lock in held:
            lock.release()


def run(plans: list[AppPlan], fleet: Fleet, checker: HealthChecker, req: SyncRequest, log: Log) -> SyncResult:
    """Execute the plans in order (under `locked`), recording each app that wrote. Consecutive apps
    of one wave under one parent (siblings, or top-level apps) run alongside each other when their
    clusters differ. The first failure stops the run, except a cluster that stops answering (before,
    when `locked` took the Leases, or during the run): its apps fail, the others go on."""
    result = SyncResult()
    down: dict[int, str] = {}  # id(client) -> why its cluster is taken to be down
    for batch in _batches(plans):
        lanes = by_cluster(batch, fleet)
        outcomes = [o for done in _alongside(lambda lane: _lane(lane[0], lane[1], down, checker, req, log), lanes)
                    for o in done]
        by_app = {o.app: o for o in outcomes}
        result.apps += [by_app[p.app] for p in batch if p.app in by_app]
        if any(not o.ok and not o.unreachable for o in outcomes) or len(outcomes) < len(batch):
            break
    return result


def _alongside(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """fn over items concurrently, the first in this (the main) thread: a signal's Interrupted reaches
    the wait it is in at once, as with one cluster; the other threads meet it at their next write."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=len(items) - 1) as pool:
        others = [pool.submit(fn, i) for i in items[1:]]
        first = fn(items[0])
        return [first, *(f.result() for f in others)]


def _lane(client: Client, plans: list[AppPlan], down: dict[int, str], checker: HealthChecker,
          req: SyncRequest, log: Log) -> list[AppSyncResult]:
    """One cluster's apps of a batch, one after another; stops at a failure other than the cluster's."""
    from kubectl_gitops.runner import Runner

    runner = Runner(client, _wave_health(checker), req, log)
    out = []
    for p in plans:
        why = down.get(id(client)) or p.state.error  # its cluster stopped answering: not tried again
        if why:
            out.append(_failed(p, why))
            continue
        try:
            outcome = runner.run(p)
        except GitopsError as e:
            if not unreachable(e):
                raise
            outcome = _failed(p, str(e))
        out.append(outcome)
        if outcome.unreachable:
            down[id(client)] = outcome.message
        elif p.has_writes and not outcome.stopped:  # stopped (a signal, a lost lease): no write at all
            record(p.state, outcome, client, req, log)
        if not outcome.ok and not outcome.unreachable:
            break
    return out


def _failed(p: AppPlan, message: str) -> AppSyncResult:
    now = datetime.now(UTC)
    return AppSyncResult(app=p.app, source=p.state.source_label, revision=p.state.revision, started_at=now,
                         finished_at=now, cluster=p.state.cluster, phase=OperationPhase.FAILED, message=message,
                         unreachable=True)


def _batches(plans: list[AppPlan]) -> list[list[AppPlan]]:
    """Runs of consecutive plans with the same parent and wave; the order of the plans is kept."""
    parent = {c.name: p.app for p in plans for c in p.state.children if c.name != p.app}
    out: list[list[AppPlan]] = []
    key: tuple[str | None, int] | None = None
    for p in plans:
        k = (parent.get(p.app), p.state.app.wave)
        if out and k == key:
            out[-1].append(p)
        else:
            out.append([p])
        key = k
    return out


def record(state: AppState, outcome: AppSyncResult, client: Client, req: SyncRequest, log: Log) -> None:
    """Write the app's record (under its Lease). A record that cannot be written is reported; the
    sync's own result stands."""
    from kubectl_gitops.record import from_sync
    from kubectl_gitops.record_store import write_record

    by = req.initiated_by or f"{getpass.getuser()}@{socket.gethostname()}"

    def update(prev: AppRecord | None) -> AppRecord:
        return from_sync(prev, state, outcome, initiated_by=by, dest_server=client.host,
                         automated=req.automated, rollback_of=req.rollback_of)

    try:
        write_record(client, req.record_namespace, state.app.name, update)
    except GitopsError as e:
        log(f"warning: app {state.app.name}: its record was not written: {e}")


def _wave_health(checker: HealthChecker) -> Callable[[Obj], HealthStatus | None]:
    """Child Applications never block the root's waves: each child is synced (and awaited) right
    after the root, in the root's wave order."""
    return lambda obj: None if is_application(obj) else checker.check(obj)
