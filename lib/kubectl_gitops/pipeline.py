"""The steps of a run, each callable on its own (the CLI and a watch loop both use them):
compare → plan → preflight → lock → run. Rendering the outcome is report's job."""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Callable, Iterator

from kubectl_gitops import plan, preflight
from kubectl_gitops.apps import is_application
from kubectl_gitops.cluster import Client
from kubectl_gitops.engine import CompareOptions, compare_target
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import HealthChecker, assess_health
from kubectl_gitops.lease import AppLock
from kubectl_gitops.model import Obj
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.record import AppRecord, from_sync
from kubectl_gitops.record_store import write_record
from kubectl_gitops.runner import Runner
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, AppSyncResult, HealthStatus, SyncRequest, SyncResult

Log = Callable[[str], None]


def compare(client: Client, opts: CompareOptions, log: Log) -> tuple[list[AppState], Settings]:
    """Every app of the target compared with the cluster, and the argocd-cm settings it used."""
    return compare_target(opts, client, log)


def assess(states: list[AppState], settings: Settings) -> HealthChecker:
    """Each object's and app's health (in place); the checker a sync keeps using."""
    return assess_health(states, settings.health)


def plan_all(states: list[AppState], req: SyncRequest) -> list[AppPlan]:
    return [plan.build(st, req) for st in states]


def check(plans: list[AppPlan], client: Client, req: SyncRequest, settings: Settings) -> None:
    """Every pre-flight check of every app; raises one error naming all violations."""
    preflight.check_all(plans, preflight.Context(client, req, settings))


@contextlib.contextmanager
def locked(plans: list[AppPlan], client: Client, namespace: str) -> Iterator[None]:
    """Hold each app's Lease while the block runs. An app with nothing to write needs no lock: a
    no-change sync sends no write at all."""
    held: list[AppLock] = []
    try:
        for p in plans:
            if p.has_writes:
                lock = AppLock(client, p.app, namespace)
                lock.acquire()
                held.append(lock)
        yield
    finally:
        for lock in held:
            lock.release()


def run(plans: list[AppPlan], client: Client, checker: HealthChecker, req: SyncRequest, log: Log) -> SyncResult:
    """Execute the plans in order (under `locked`), recording each app that wrote; stops after the
    first app that fails."""
    runner = Runner(client, _wave_health(checker), req, log)
    result = SyncResult()
    for p in plans:
        outcome = runner.run(p)
        result.apps.append(outcome)
        if p.has_writes and not outcome.stopped:  # stopped (a signal, a lost lease): no write at all
            record(p.state, outcome, client, req, log)
        if not outcome.ok:
            break
    return result


def record(state: AppState, outcome: AppSyncResult, client: Client, req: SyncRequest, log: Log) -> None:
    """Write the app's record (under its Lease). A record that cannot be written is reported; the
    sync's own result stands."""
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
