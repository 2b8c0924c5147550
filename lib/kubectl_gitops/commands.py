"""Use cases behind the CLI: each takes plain arguments, runs the pipeline, writes the report and
returns the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from kubectl_gitops import report
from kubectl_gitops.cluster import KubeOptions, connect
from kubectl_gitops.engine import CompareOptions, compare_target
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK

Log = Callable[[str], None]


def run_diff(*, target: str, revision: str | None, recursive: bool, argocd_cm: str | None, output: str,
             color: bool, kube: KubeOptions, log: Log) -> int:
    client = connect(kube)
    states, _ = compare_target(CompareOptions(target, revision, recursive, argocd_cm), client, log)
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
