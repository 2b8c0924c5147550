"""How lint findings are shown: text lines, JSON, or SARIF 2.1.0 (what GitHub code scanning reads).
Pure. A finding never carries a Secret value, so nothing here needs masking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from kubectl_gitops import __version__
from kubectl_gitops.lint.rules import RULE_IDS, Finding, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
RULE_HELP = {
    "invalid-manifest": "An Application or AppProject (or a sync annotation) that diff and sync would refuse.",
    "render-failed": "An app whose source does not render (a missing path, a failing chart or kustomization).",
    "secret-in-git": "A Secret with data in Git: anyone with read access to the repository has its values.",
    "image-latest": "An image tagged latest, or untagged: what runs changes without a commit.",
    "pull-always-mutable-tag": "imagePullPolicy Always with a tag that can move: nodes may run different builds.",
    "no-resources": "A container without resource requests or limits.",
    "prod-without-sync-window": "A production app whose project has no sync window for it.",
    "prod-automated-without-deny-window": "A production app synced automatically with no deny window.",
    "prod-single-replica": "A production Deployment with one replica.",
    "automated-without-self-heal": "Automated sync without selfHeal: drift is never reverted.",
    "prune-without-destination-limits": "Automated prune in a project that permits every destination.",
    "app-code-in-config-repo": "Application code next to the manifests in the config repository.",
}


def _location(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line else f.file


def text(findings: Sequence[Finding]) -> str:
    lines = [f"{_location(f)}: {f.severity.label} [{f.rule}] {f.obj}: {f.message}\n  fix: {f.fix}"
             for f in findings]
    counts = {s: sum(f.severity == s for f in findings) for s in Severity}
    lines.append(f"{len(findings)} finding(s): {counts[Severity.ERROR]} error(s), "
                 f"{counts[Severity.WARNING]} warning(s), {counts[Severity.INFO]} info")
    return "\n".join(lines) + "\n"


def document(findings: Sequence[Finding]) -> dict[str, Any]:
    return {"findings": [{"rule": f.rule, "severity": f.severity.label, "file": f.file, "line": f.line,
                          "object": f.obj, "message": f.message, "fix": f.fix} for f in findings]}


def sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    rules = sorted(RULE_IDS)
    index = {r: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        region = {"region": {"startLine": f.line}} if f.line else {}
        results.append({
            "ruleId": f.rule, "ruleIndex": index[f.rule], "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.obj}: {f.message}. Fix: {f.fix}."},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file}, **region}}],
        })
    driver = {
        "name": "kubectl-gitops", "version": __version__,
        "rules": [{"id": r, "shortDescription": {"text": RULE_HELP[r]},
                   "defaultConfiguration": {"level": SARIF_LEVEL[RULE_IDS[r]]}} for r in rules],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def render(findings: Sequence[Finding], output: str) -> str:
    if output == "text":
        return text(findings)
    doc = sarif(findings) if output == "sarif" else document(findings)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
