"""What the user sees: colored unified diffs, every table (diff, plan, sync, status), and
json/yaml/markdown documents.
Secret values never leave this module unmasked: every view of a Secret is masked here first."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from kubectl_gitops import policy, yamlio
from kubectl_gitops.masking import mask_secrets
from kubectl_gitops.model import Obj
from kubectl_gitops.plan import AppPlan, action
from kubectl_gitops.state import AppState, AppSyncResult, HealthCode, ResourceState, SyncResult, TaskResult

if TYPE_CHECKING:
    from kubectl_gitops.record import AppRecord

# CLUSTER: the app's destination, a kubeconfig context (or an Argo CD cluster Secret's name).
DIFF_HEADERS = ("APP", "CLUSTER", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH")
PLAN_HEADERS = ("APP", "CLUSTER", "PHASE", "WAVE", "KIND", "NAMESPACE", "NAME", "ACTION")
SYNC_HEADERS = ("APP", "CLUSTER", "PHASE", "WAVE", "KIND", "NAMESPACE", "NAME", "RESULT", "HEALTH", "MESSAGE")
STATUS_HEADERS = ("APP", "CLUSTER", "KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH", "MESSAGE")
APP_HEADERS = ("APP", "CLUSTER", "SYNC", "HEALTH", "DEPLOYED", "LAST SYNC", "LAST RESULT")
RED, GREEN, CYAN, BOLD, RESET = "\033[31m", "\033[32m", "\033[36m", "\033[1m", "\033[0m"


def masked_views(rs: ResourceState) -> tuple[Obj | None, Obj | None]:
    """Copies of (target, live) views with Secret data masked consistently across both."""
    target = copy.deepcopy(rs.target_view)
    live = copy.deepcopy(rs.live_view)
    mask_secrets(target, live)
    return target, live


def _yaml_lines(obj: Obj | None) -> list[str]:
    return yamlio.dump(obj, sort_keys=True).splitlines(keepends=True) if obj is not None else []


def header(rs: ResourceState) -> str:
    gk = f"{rs.key.group}/{rs.key.kind}" if rs.key.group else rs.key.kind
    ns = f"{rs.key.namespace}/" if rs.key.namespace else ""
    return f"===== {rs.app}: {gk} {ns}{rs.key.name} ({rs.status}) ====="


def unified_diff(rs: ResourceState) -> str:
    target, live = masked_views(rs)
    name = f"{rs.key.kind}/{rs.key.name}"
    lines = difflib.unified_diff(_yaml_lines(live), _yaml_lines(target), fromfile=f"live/{name}",
                                 tofile=f"git/{name}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def colorize(diff: str, color: bool) -> str:
    if not color:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(f"{BOLD}{line.rstrip(chr(10))}{RESET}\n")
        elif line.startswith("+"):
            out.append(f"{GREEN}{line.rstrip(chr(10))}{RESET}\n")
        elif line.startswith("-"):
            out.append(f"{RED}{line.rstrip(chr(10))}{RESET}\n")
        elif line.startswith("@@"):
            out.append(f"{CYAN}{line.rstrip(chr(10))}{RESET}\n")
        else:
            out.append(line)
    return "".join(out)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Plain columns two spaces apart, numbers right-aligned. Hand-written: tabulate spends ~0.15 s
    guessing column types on the 1,000 rows of a large sync."""
    rows = [list(r) for r in rows]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) and not isinstance(r[i], bool)
                                  for r in rows if r[i] is not None) for i in range(len(headers))]
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    aligned = [[c.rjust(w) if num else c.ljust(w) for c, w, num in zip(line, widths, numeric, strict=True)]
               for line in cells]
    return "\n".join("  ".join(line).rstrip() for line in aligned)


def health_of(rs: ResourceState) -> tuple[str, str]:
    h = rs.health
    return (str(h.status), h.message or "") if h is not None else ("", "")


def resource_rows(states: Iterable[AppState]) -> list[list[str]]:
    rows = []
    for st in states:
        for rs in st.resources:
            status = f"{rs.status} (ignored)" if rs.ignored_extraneous else str(rs.status)
            rows.append([rs.app, st.cluster, rs.key.kind, rs.key.namespace, rs.key.name, status, health_of(rs)[0]])
    return rows


def render_diff_text(states: Sequence[AppState], color: bool) -> str:
    parts = []
    for st in states:
        for rs in st.resources:
            if rs.out_of_sync:
                parts.append(colorize(f"{header(rs)}\n{unified_diff(rs)}", color))
    parts.append(table(DIFF_HEADERS, resource_rows(states)))
    return "\n".join(parts) + "\n"


def policy_lines(states: Sequence[AppState]) -> list[str]:
    """What the apps' projects refuse, and which apps a sync window blocks now."""
    out = []
    for st in states:
        out += [f"app {st.app.name}: sync status Unknown: {c}" for c in st.conditions]
        if not st.conditions:
            out += [f"app {st.app.name}: {rs.key}: {rs.message}" for rs in st.resources if rs.message]
        if st.sync_window:
            out.append(f"app {st.app.name}: sync {st.sync_window}")
    return out


def policy_text(states: Sequence[AppState]) -> str:
    lines = policy_lines(states)
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def document(states: Sequence[AppState], with_diff: bool = True) -> dict[str, Any]:
    apps = []
    for st in states:
        resources = []
        for rs in st.resources:
            health, message = health_of(rs)
            item = {"group": rs.key.group, "kind": rs.key.kind, "namespace": rs.key.namespace,
                    "name": rs.key.name, "status": str(rs.status), "health": health or None,
                    "healthMessage": message or None, "ignored": rs.ignored_extraneous,
                    "origin": rs.origin or None,  # the file (and source) Git has it from
                    "message": rs.message or None}
            if with_diff:
                item["diff"] = unified_diff(rs) if rs.out_of_sync else ""
            resources.append(item)
        apps.append({"name": st.app.name, "cluster": st.cluster, "error": st.error or None,
                     "source": st.source_label, "path": st.app.source.path,
                     "project": st.project.name if st.project else None, "sync": str(st.sync_status),
                     "conditions": st.conditions, "syncWindow": st.sync_window or None,
                     "health": str(st.health) if st.health else None, "resources": resources,
                     "children": [c.name for c in st.children]})
    changed = sum(1 for st in states for rs in st.resources if rs.out_of_sync)
    return {"apps": apps, "summary": {"outOfSync": changed,
                                      "resources": sum(len(st.resources) for st in states)}}


def to_json(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_yaml(doc: Any) -> str:
    return yamlio.dump(doc)


def render_markdown(states: Sequence[AppState]) -> str:
    rows = resource_rows(states)
    changed = [rs for st in states for rs in st.resources if rs.out_of_sync]
    out = [f"### kubectl gitops diff: {len(changed)} of {len(rows)} resources differ\n",
           "| " + " | ".join(DIFF_HEADERS) + " |", "|" + "---|" * len(DIFF_HEADERS)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    for rs in changed:
        ns = f"{rs.key.namespace}/" if rs.key.namespace else ""
        out += ["", f"<details><summary>{rs.app}: {rs.key.kind} {ns}{rs.key.name} ({rs.status})</summary>",
                "", "```diff", unified_diff(rs).rstrip("\n"), "```", "</details>"]
    return "\n".join(out) + "\n"


# -- sync and status --------------------------------------------------------------------------------

def plan_rows(plans: Iterable[AppPlan]) -> list[list[object]]:
    return [[t.app, p.state.cluster, str(t.phase), t.wave, t.key.kind, t.key.namespace, t.key.name, action(t)]
            for p in plans for t in (*p.tasks, *p.prunes)]


def sync_rows(result: SyncResult) -> list[list[object]]:
    return [[t.app, a.cluster, str(t.phase), t.wave, t.key.kind, t.key.namespace, t.key.name,
             str(t.result or TaskResult.SKIPPED), str(t.health or ""), t.message]
            for a in result.apps for t in a.tasks]


def plan_output(plans: list[AppPlan], output: str) -> str:
    return rows_output(output, PLAN_HEADERS, plan_rows(plans), "plan")


def sync_output(result: SyncResult, output: str) -> str:
    rows = sync_rows(result)
    if output == "table":
        return table(SYNC_HEADERS, rows) + "\n"
    doc = {"results": _records(SYNC_HEADERS, rows), "apps": [_app_result(a) for a in result.apps]}
    return to_json(doc) if output == "json" else to_yaml(doc)


def _app_result(a: AppSyncResult) -> dict[str, Any]:
    return {"name": a.app, "cluster": a.cluster, "source": a.source, "revision": a.revision, "phase": str(a.phase),
            "startedAt": _time(a.started_at), "finishedAt": _time(a.finished_at) if a.finished_at else None,
            "health": str(a.health) if a.health else None, "message": a.message}


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_output(states: list[AppState], records: dict[str, AppRecord], output: str) -> str:
    """Every object's and app's status; for each app also its record: the revision deployed and the
    last operation (from any machine)."""
    if output != "table":
        doc = document(states, with_diff=False)
        for app in doc["apps"]:
            rec = records.get(app["name"])
            app["deployedRevision"] = rec.sync_revision if rec else None
            app["lastOperation"] = _last_operation(rec)
        return to_json(doc) if output == "json" else to_yaml(doc)
    rows = [[rs.app, st.cluster, rs.key.kind, rs.key.namespace, rs.key.name, str(rs.status), health_of(rs)[0],
             rs.message or health_of(rs)[1]] for st in states for rs in st.resources]
    return (table(STATUS_HEADERS, rows) + "\n\n" + table(APP_HEADERS, record_rows(states, records)) + "\n"
            + policy_text(states))


def _last_operation(rec: AppRecord | None) -> dict[str, Any] | None:
    if rec is None or rec.operation is None:
        return None
    op = rec.operation
    return {"phase": op.phase, "message": op.message, "startedAt": op.started_at, "finishedAt": op.finished_at,
            "initiatedBy": op.initiated_by, "revision": op.revision}


def all_healthy(states: Iterable[AppState]) -> bool:
    return all(st.health == HealthCode.HEALTHY and not any(rs.out_of_sync for rs in st.resources) for st in states)


def diff_output(states: list[AppState], output: str, color: bool) -> str:
    if output == "diff":
        return render_diff_text(states, color) + policy_text(states)
    if output == "table":
        return table(DIFF_HEADERS, resource_rows(states)) + "\n" + policy_text(states)
    if output == "markdown":
        return render_markdown(states)
    doc = document(states)
    return to_json(doc) if output == "json" else to_yaml(doc)


WINDOW_HEADERS = ("APP", "CLUSTER", "PROJECT", "KIND", "SCHEDULE", "DURATION", "TIMEZONE", "STATUS", "OPENS", "CLOSES",
                  "MANUALSYNC", "SYNC")


def windows_output(states: list[AppState], at: datetime, output: str) -> str:
    """Every window that applies to each app at `at`, and whether a manual sync may run then."""
    rows: list[list[object]] = []
    for st in states:
        if st.project is None:
            continue
        sync = "allowed" if policy.window_verdict(st.app, st.project, manual=True, at=at).allowed else "blocked"
        for w in policy.windows_for(st.app, st.project):
            span = w.span(at)
            rows.append([st.app.name, st.cluster, st.project.name, w.kind, w.schedule, w.duration_text, w.time_zone,
                         "Active" if span.active else "Inactive", _time(span.opens) if span.opens else "",
                         _time(span.closes) if span.closes else "", "Enabled" if w.manual_sync else "Disabled", sync])
    return rows_output(output, WINDOW_HEADERS, rows, "windows")


def rows_output(output: str, headers: Sequence[str], rows: list[list[object]], key: str) -> str:
    if output == "table":
        return table(headers, rows) + "\n"
    doc = {key: _records(headers, rows)}
    return to_json(doc) if output == "json" else to_yaml(doc)


def _records(headers: Sequence[str], rows: list[list[object]]) -> list[dict[str, object]]:
    return [dict(zip((h.lower() for h in headers), r, strict=True)) for r in rows]


# -- app records: list, history ---------------------------------------------------------------------

LIST_HEADERS = ("NAME", "PROJECT", "CLUSTER", "NAMESPACE", "SYNC", "HEALTH", "REVISION", "LAST SYNC", "RESULT")
LIST_WIDE_HEADERS = (*LIST_HEADERS, "REPO", "PATH", "TARGET", "INITIATED BY")
HISTORY_HEADERS = ("ID", "DATE", "REVISION", "CLUSTER", "INITIATED BY", "SOURCE")


def _short(revision: str) -> str:
    return revision[:12]


def list_output(records: Sequence[tuple[str, AppRecord]], namespace: str, output: str) -> str:
    """`kubectl gitops list`: a table like `argocd app list`, or the records as Application documents;
    each record with the CLUSTER it was read from (a context's or a cluster Secret's name)."""
    if output in ("json", "yaml"):
        from kubectl_gitops.record import application_document  # here only: diff and sync need none

        doc = {"apiVersion": "v1", "kind": "List", "items": [application_document(r, namespace) for _, r in records]}
        return to_json(doc) if output == "json" else to_yaml(doc)
    rows: list[list[object]] = []
    for cluster, r in records:
        op = r.operation
        row: list[object] = [r.app, r.project, cluster, r.dest_namespace, r.sync_status,
                             r.health_status, _short(r.sync_revision), op.finished_at if op else "",
                             op.phase if op else ""]
        if output == "wide":
            row += [r.source.repo_url, r.source.path, r.source.target_revision, op.initiated_by if op else ""]
        rows.append(row)
    return table(LIST_WIDE_HEADERS if output == "wide" else LIST_HEADERS, rows) + "\n"


def history_output(record: AppRecord, output: str, cluster: str = "") -> str:
    """`kubectl gitops history`: like `argocd app history`, oldest first; `cluster`: where the record is."""
    if output in ("json", "yaml"):
        from kubectl_gitops.record import application_document

        doc = {"app": record.app, "cluster": cluster or None,
               "history": application_document(record, "")["status"]["history"]}
        return to_json(doc) if output == "json" else to_yaml(doc)
    where = cluster or record.dest_server or "in-cluster"
    rows = [[h.id, h.deployed_at, h.revision, where, h.initiated_by + (" (automated)" if h.automated else ""),
             f"{h.source.repo_url or '.'} {h.source.path}" + (" (rollback)" if h.rollback else "")]
            for h in record.history]
    return table(HISTORY_HEADERS, rows) + "\n"


def record_rows(states: Sequence[AppState], records: dict[str, AppRecord]) -> list[list[str]]:
    """The app rows of `status`: the live comparison next to what the record says was deployed."""
    rows = []
    for st in states:
        rec = records.get(st.app.name)
        op = rec.operation if rec else None
        sync = "Unknown" if st.error else str(st.sync_status)  # its cluster did not answer
        rows.append([st.app.name, st.cluster, sync, str(st.health or ""),
                     _short(rec.sync_revision) if rec else "", op.finished_at if op else "",
                     f"{op.phase}: {op.message}" if op and op.message else (op.phase if op else "")])
    return rows
