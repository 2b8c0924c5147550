"""Use cases behind the CLI: each takes plain arguments, runs the pipeline, writes the report and
returns the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from kubectl_gitops import report
from kubectl_gitops.apply import Runner, SyncRequest, build_tasks, preflight, prune_enabled
from kubectl_gitops.apps import is_application
from kubectl_gitops.cluster import KubeOptions, connect
from kubectl_gitops.engine import CompareOptions, compare_target
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK, Halt
from kubectl_gitops.health import HealthChecker, assess_health
from kubectl_gitops.lease import AppLock
from kubectl_gitops.model import Obj
from kubectl_gitops.plan import prune_decision
from kubectl_gitops.state import AppState, HealthCode, HealthStatus, SyncTask, TaskResult

Log = Callable[[str], None]


def run_diff(*, compare: CompareOptions, output: str,
             color: bool, kube: KubeOptions, log: Log) -> int:
    client = connect(kube)
    states, settings = compare_target(compare, client, log)
    assess_health(states, settings.health)
    if output == "diff":
        text = report.render_diff_text(states, color)
    elif output == "table":
        text = report.table(report.DIFF_HEADERS, report.resource_rows(states)) + "\n"
    elif output == "markdown":
        text = report.render_markdown(states)
    else:
        doc = report.document(states)
        text = report.to_json(doc) if output == "json" else report.to_yaml(doc)
    sys.stdout.write(text)
    log(f"{client.requests} API requests")
    changed = any(rs.out_of_sync for st in states for rs in st.resources)
    return EXIT_CHANGED if changed else EXIT_OK


SYNC_HEADERS = ("APP", "PHASE", "WAVE", "KIND", "NAMESPACE", "NAME", "RESULT", "HEALTH", "MESSAGE")
PLAN_HEADERS = ("APP", "PHASE", "WAVE", "KIND", "NAMESPACE", "NAME", "ACTION")


def run_sync(*, compare: CompareOptions, output: str,
             kube: KubeOptions, req: SyncRequest, log: Log) -> int:
    client = connect(kube)
    client.set_deadline(req.timeout)  # every request's timeout is the time left
    states, settings = compare_target(compare, client, log)
    # Plan and validate every app before the first write.
    plans = []
    for st in states:
        tasks, prunes = build_tasks(st, log)
        preflight(st, tasks, prunes, client, req)
        plans.append((st, tasks, prunes))
    plan_rows = [row for st, tasks, prunes in plans for row in _plan_rows(st, tasks, prunes, req)]
    if req.dry_run:
        _emit(output, PLAN_HEADERS, plan_rows, "plan")
        return EXIT_OK
    if sys.stderr.isatty():
        log(report.table(PLAN_HEADERS, plan_rows))
    checker = assess_health(states, settings.health)
    # An app with nothing to write needs no lock: a no-change sync sends no write at all.
    locks = [AppLock(client, st.app.name, req.lock_namespace) for st, tasks, prunes in plans
             if _has_writes(st, tasks, prunes, req)]
    held: list[AppLock] = []
    outcomes = []
    halted: Halt | None = None
    try:
        for lock in locks:
            held.append(lock)  # released even if a signal ends acquire() halfway
            lock.acquire()
        for st, tasks, prunes in plans:
            outcome = Runner(st, client, _wave_health(checker), req, log).run(tasks, prunes)
            outcomes.append(outcome)
            if not outcome.ok:
                break
    except Halt as e:  # a signal or a lost lease: what was done so far is reported below
        halted = e
    finally:
        for lock in held:
            lock.release()
    done = [t for _, tasks, prunes in plans for t in [*tasks, *prunes] if t.result] if halted else []
    rows = [[t.app, str(t.phase), t.wave, t.key.kind, t.key.namespace, t.key.name, str(t.result or TaskResult.SKIPPED),
             str(t.health or ""), t.message] for t in (done if halted else [t for o in outcomes for t in o.tasks])]
    _emit(output, SYNC_HEADERS, rows, "results")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        log(f"error: app {o.app}: {o.message}")
    log(f"{client.requests} API requests ({client.writes} writes)")
    if halted:
        log(f"error: {halted}")
        return halted.exit_code
    return EXIT_CHANGED if failed else EXIT_OK


def _wave_health(checker: HealthChecker) -> Callable[[Obj], HealthStatus | None]:
    """Child Applications never block the root's waves: each child is synced (and awaited) right
    after the root, in the root's wave order."""
    return lambda obj: None if is_application(obj) else checker.check(obj)


def _has_writes(st: AppState, tasks: list[SyncTask], prunes: list[SyncTask], req: SyncRequest) -> bool:
    return any(not t.skip_apply for t in tasks) or any(
        prune_decision(t, prune_enabled=prune_enabled(st, req), confirmed=req.confirm_prune).allowed for t in prunes)


def _plan_rows(st: AppState, tasks: list[SyncTask], prunes: list[SyncTask], req: SyncRequest) -> list[list[object]]:
    rows: list[list[object]] = []
    for t in tasks:
        action = "unchanged" if t.skip_apply else ("create" if t.live is None else "apply")
        if t.hook:
            action = f"hook ({','.join(sorted(t.delete_policies))})"
        rows.append([t.app, str(t.phase), t.wave, t.key.kind, t.key.namespace, t.key.name, action])
    for t in prunes:
        d = prune_decision(t, prune_enabled=prune_enabled(st, req), confirmed=req.confirm_prune)
        rows.append([t.app, "Sync", t.wave, t.key.kind, t.key.namespace, t.key.name,
                     "prune" if d.allowed else f"pruneSkipped: {d.reason}"])
    return rows


def _emit(output: str, headers: Sequence[str], rows: list[list[object]], key: str) -> None:
    if output == "table":
        sys.stdout.write(report.table(headers, rows) + "\n")
        return
    doc = {key: [dict(zip((h.lower() for h in headers), r, strict=True)) for r in rows]}
    sys.stdout.write(report.to_json(doc) if output == "json" else report.to_yaml(doc))



STATUS_HEADERS = ("APP", "KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH", "MESSAGE")


def run_status(*, compare: CompareOptions, output: str,
               kube: KubeOptions, log: Log) -> int:
    client = connect(kube)
    states, settings = compare_target(compare, client, log)
    assess_health(states, settings.health)
    if output == "table":
        rows = [[rs.app, rs.key.kind, rs.key.namespace, rs.key.name, str(rs.status), *report.health_of(rs)]
                for st in states for rs in st.resources]
        apps = [[st.app.name, "Synced" if not any(rs.out_of_sync for rs in st.resources) else "OutOfSync",
                 str(st.health or "")] for st in states]
        sys.stdout.write(report.table(STATUS_HEADERS, rows) + "\n\n" + report.table(("APP", "SYNC", "HEALTH"), apps)
                         + "\n")
    else:
        doc = report.document(states, with_diff=False)
        sys.stdout.write(report.to_json(doc) if output == "json" else report.to_yaml(doc))
    healthy = all(st.health == HealthCode.HEALTHY and not any(rs.out_of_sync for rs in st.resources) for st in states)
    return EXIT_OK if healthy else EXIT_CHANGED
