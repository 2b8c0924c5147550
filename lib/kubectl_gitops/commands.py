"""Use cases behind the CLI: each takes plain arguments, runs the pipeline's steps, writes the
report and returns the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from kubectl_gitops import pipeline, report
from kubectl_gitops.cluster import KubeOptions, connect
from kubectl_gitops.engine import CompareOptions
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK
from kubectl_gitops.state import HealthCode, SyncRequest

Log = Callable[[str], None]


def run_diff(*, compare: CompareOptions, output: str, color: bool, kube: KubeOptions, log: Log) -> int:
    client = connect(kube)
    states, settings = pipeline.compare(client, compare, log)
    pipeline.assess(states, settings)
    sys.stdout.write(report.diff_output(states, output, color))
    log(f"{client.requests} API requests")
    changed = any(rs.out_of_sync for st in states for rs in st.resources)
    return EXIT_CHANGED if changed else EXIT_OK


def run_sync(*, compare: CompareOptions, output: str, kube: KubeOptions, req: SyncRequest, log: Log) -> int:
    client = connect(kube)
    states, settings = pipeline.compare(client, compare, log)
    plans = pipeline.plan_all(states, req)
    pipeline.check(plans, client, req, settings)  # every app validated before the first write
    if req.dry_run:
        sys.stdout.write(report.plan_output(plans, output))
        return EXIT_OK
    if sys.stderr.isatty():
        log(report.table(report.PLAN_HEADERS, report.plan_rows(plans)))
    checker = pipeline.assess(states, settings)
    with pipeline.locked(plans, client, req.lock_namespace):
        result = pipeline.run(plans, client, checker, req, log)
    sys.stdout.write(report.sync_output(result, output))
    for a in result.apps:
        if not a.ok:
            log(f"error: app {a.app}: {a.message}")
        elif a.health not in (HealthCode.HEALTHY, None):
            log(f"app {a.app}: synced, {a.health} (not awaited; --wait waits until Healthy)")
    log(f"{client.requests} API requests ({client.writes} writes)")
    return EXIT_OK if result.ok else EXIT_CHANGED


def run_status(*, compare: CompareOptions, output: str, kube: KubeOptions, log: Log) -> int:
    client = connect(kube)
    states, settings = pipeline.compare(client, compare, log)
    pipeline.assess(states, settings)
    sys.stdout.write(report.status_output(states, output))
    return EXIT_OK if report.all_healthy(states) else EXIT_CHANGED
