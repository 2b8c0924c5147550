"""Use cases behind the CLI: each takes plain arguments, runs the pipeline's steps, writes the
report and returns the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from kubectl_gitops import pipeline, policy, report
from kubectl_gitops.cluster import ApiError, Client, KubeOptions
from kubectl_gitops.engine import CompareOptions, single_app
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_ERROR, EXIT_OK, GitopsError
from kubectl_gitops.fleet import Fleet, FleetOptions, unreachable
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.state import AppState, HealthCode, SyncRequest, SyncResult, TaskResult

# The notify package is imported by a sync only, the records by the commands that show or write them:
# diff and --help never load either.
if TYPE_CHECKING:
    from kubectl_gitops.notify.loading import ConfigSource
    from kubectl_gitops.record import AppRecord

Log = Callable[[str], None]
WROTE = frozenset(TaskResult) - {TaskResult.UNCHANGED, TaskResult.PRUNE_SKIPPED, TaskResult.FAILED,
                                 TaskResult.SKIPPED}


def run_diff(*, compare: CompareOptions, output: str, color: bool, kube: KubeOptions, log: Log,
             clusters: FleetOptions | None = None) -> int:
    fleet = _fleet(kube, clusters, compare)
    states, settings = pipeline.compare(fleet, compare, log)
    pipeline.assess(states, settings)
    sys.stdout.write(report.diff_output(states, output, color))
    log(f"{fleet.requests} API requests")
    if _unreached(states, log):
        return EXIT_ERROR
    changed = any(rs.out_of_sync for st in states for rs in st.resources)
    return EXIT_CHANGED if changed else EXIT_OK


def _fleet(kube: KubeOptions, clusters: FleetOptions | None, compare: CompareOptions) -> Fleet:
    return Fleet.connect(kube, replace(clusters or FleetOptions(), config_namespace=compare.config_namespace))


def _unreached(states: list[AppState], log: Log) -> bool:
    """One line per cluster that did not answer, naming the apps it failed."""
    down: dict[str, list[AppState]] = {}
    for st in states:
        if st.error:
            down.setdefault(st.cluster, []).append(st)
    for cluster, failed in down.items():
        log(f"error: cluster {cluster}: apps {', '.join(st.app.name for st in failed)} failed: {failed[0].error}")
    return bool(down)


def run_sync(*, compare: CompareOptions, output: str, kube: KubeOptions, req: SyncRequest, log: Log,
             notifications: ConfigSource | None = None, clusters: FleetOptions | None = None) -> int:
    return _sync(_fleet(kube, clusters, compare), compare, output, req, log, notifications)


def _sync(fleet: Fleet, compare: CompareOptions, output: str, req: SyncRequest, log: Log,
          notifications: ConfigSource | None = None) -> int:
    from kubectl_gitops import syncing  # with the notify package
    from kubectl_gitops.notify.loading import ConfigSource

    fleet.set_deadline(req.timeout)  # every request's timeout is the time left
    req = replace(req, record_namespace=compare.config_namespace)  # records live beside argocd-cm
    states, settings = pipeline.compare(fleet, compare, log)
    plans = pipeline.plan_all(states, req)
    notifier = syncing.notifier(notifications or ConfigSource(namespace=compare.config_namespace), fleet, req, log)
    plans = syncing.check(plans, fleet, req, settings, notifier)
    if req.dry_run:
        sys.stdout.write(report.plan_output(plans, output))
        return EXIT_ERROR if _unreached(states, log) else EXIT_OK
    if sys.stderr.isatty():
        log(report.table(report.PLAN_HEADERS, report.plan_rows(plans)))
    result = syncing.execute(plans, states, settings, fleet, req, notifier, log)
    sys.stdout.write(report.sync_output(result, output))
    for a in result.apps:
        if not a.ok and not a.unreachable:
            log(f"error: app {a.app}: {a.message}")
        elif a.health not in (HealthCode.HEALTHY, None):
            log(f"app {a.app}: synced, {a.health} (not awaited; --wait waits until Healthy)")
    unreached = _unreached([*states, *_stopped_answering(result, plans)], log)
    log(f"{fleet.requests} API requests ({fleet.writes} writes)")
    stopped = next((a.stopped for a in result.apps if a.stopped), None)
    if stopped:  # a signal or a lost lease: what was done is above
        return stopped.exit_code
    if unreached and not any(t.result in WROTE for a in result.apps for t in a.tasks):
        return EXIT_ERROR  # nothing was written anywhere
    return EXIT_OK if result.ok and not unreached else EXIT_CHANGED


def _stopped_answering(result: SyncResult, plans: list[AppPlan]) -> list[AppState]:
    """The apps whose cluster stopped answering during the run, as states that say so (those whose
    Lease it did not answer for say so already)."""
    by_app = {p.app: p.state for p in plans}
    return [replace(by_app[a.app], error=a.message) for a in result.apps
            if a.unreachable and a.app in by_app and not by_app[a.app].error]


def run_status(*, compare: CompareOptions, output: str, kube: KubeOptions, log: Log,
               clusters: FleetOptions | None = None) -> int:
    fleet = _fleet(kube, clusters, compare)
    states, settings = pipeline.compare(fleet, compare, log)
    pipeline.assess(states, settings)
    records = _records_by_app(fleet, states, compare.config_namespace, log)
    sys.stdout.write(report.status_output(states, records, output))
    if _unreached(states, log):
        return EXIT_ERROR
    return EXIT_OK if report.all_healthy(states) else EXIT_CHANGED


def run_windows(*, compare: CompareOptions, at: datetime, output: str, kube: KubeOptions, log: Log,
                clusters: FleetOptions | None = None) -> int:
    states, _ = pipeline.compare(_fleet(kube, clusters, compare), compare, log)
    for st in states:
        for reason in policy.window_violations(st, at=at):
            log(f"app {st.app.name}: sync {reason}")
    sys.stdout.write(report.windows_output(states, at, output))
    if _unreached(states, log):
        return EXIT_ERROR
    return EXIT_CHANGED if any(policy.window_violations(st, at=at) for st in states) else EXIT_OK


# -- app records ------------------------------------------------------------------------------------

def _records_of(client: Client, namespace: str, log: Log) -> dict[str, AppRecord]:
    """Every app record of the cluster, by app; none (with a note) when they cannot be read."""
    from kubectl_gitops.record_store import list_records  # records are read by the commands that show them

    try:
        return {r.app: r for r in list_records(client, namespace)}
    except ApiError as e:
        if e.status not in (403, 404):
            raise
        log(f"app records in namespace {namespace} not shown: {e}")
        return {}


def _records_by_app(fleet: Fleet, states: list[AppState], namespace: str, log: Log) -> dict[str, AppRecord]:
    """Each app's record, read from the app's own cluster (one LIST per cluster)."""
    per_cluster = {id(c): _records_of(c, namespace, log) for c in fleet.clients()
                   if any(fleet.client_of(st.app) is c for st in states if not st.error)}
    return {st.app.name: rec for st in states if not st.error
            for rec in [per_cluster[id(fleet.client_of(st.app))].get(st.app.name)] if rec is not None}


def run_list(*, compare: CompareOptions | None, namespace: str, output: str, kube: KubeOptions,
             log: Log, clusters: FleetOptions | None = None) -> int:
    """Every app with its record. With a TARGET its apps, compared live now; without, every record
    on the cluster and on each other cluster the flags name (apps synced from any machine)."""
    from kubectl_gitops.record import live_record

    fleet = _fleet(kube, clusters, compare or CompareOptions(config_namespace=namespace))
    if compare is None:
        rows: list[tuple[str, AppRecord]] = []
        unreached = False
        for target in fleet.named():
            client = fleet.client_for(target)
            try:
                rows += [(target.label, r) for r in _records_of(client, namespace, log).values()]
            except GitopsError as e:
                if client is fleet.management or not unreachable(e):
                    raise
                log(f"error: cluster {target.label}: its app records were not read: {e}")
                unreached = True
    else:
        states, settings = pipeline.compare(fleet, compare, log)
        pipeline.assess(states, settings)
        records = _records_by_app(fleet, states, namespace, log)
        rows = [(st.cluster, live_record(st, records.get(st.app.name), fleet.client_of(st.app).host))
                for st in states if not st.error]
        unreached = _unreached(states, log)
    sys.stdout.write(report.list_output(rows, namespace, output))
    return EXIT_ERROR if unreached else EXIT_OK


def run_history(*, app: str, namespace: str, output: str, kube: KubeOptions, log: Log,
                clusters: FleetOptions | None = None) -> int:
    """APP's record, where sync wrote it: on the destination cluster of the Application APP names
    here (its file, or its name in ./apps); else (no Git) on the one of the current cluster and the
    clusters the flags name that has it."""
    from kubectl_gitops.record_store import find_records

    fleet = _fleet(kube, clusters, CompareOptions(target=app, config_namespace=namespace))
    target, record = find_records(fleet, namespace, app).one(namespace)
    sys.stdout.write(report.history_output(record, output, target.label))
    return EXIT_OK


def run_rollback(*, compare: CompareOptions, entry_id: int | None, force: bool, output: str,
                 kube: KubeOptions, req: SyncRequest, log: Log, clusters: FleetOptions | None = None) -> int:
    """Sync one app at the revision of a history entry (default: the deployment before the current)."""
    from kubectl_gitops.record import history_entry
    from kubectl_gitops.record_store import read_record

    fleet = _fleet(kube, clusters, compare)
    app = single_app(compare)
    if app.automated and not force:
        raise GitopsError(f"app {app.name}: rollback refused: syncPolicy.automated is on, so the next automated "
                          "sync would undo it", hint="turn automated sync off in Git first, or pass --force")
    found = read_record(fleet.client_of(app), compare.config_namespace, app.name)
    if found is None:
        raise GitopsError(f"app {app.name}: no record in namespace {compare.config_namespace}, so no history "
                          "to roll back to")
    entry = history_entry(found[0], entry_id)
    log(f"{app.name}: rolling back to history entry {entry.id} (revision {entry.revision[:12]}, "
        f"deployed {entry.deployed_at})")
    pinned = replace(compare, recursive=False, pins=((app.name, entry.revision),))
    return _sync(fleet, pinned, output, replace(req, rollback_of=entry.id), log)
