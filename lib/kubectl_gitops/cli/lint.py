"""kubectl gitops lint"""

from __future__ import annotations

import sys

import click

from kubectl_gitops.cli.options import progress


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", default=".", required=False)
@click.option("-o", "--output", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="Output format; sarif is SARIF 2.1.0, as GitHub code scanning reads it.")
@click.option("--severity", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="Findings at or above this severity make the exit status 1.")
@click.option("--projects", "projects_dir", type=click.Path(exists=True, file_okay=False),
              help="Also read AppProject manifests from this directory.")
def lint(target: str, output: str, severity: str, projects_dir: str | None) -> int:
    """Check the pitfalls of GitOps practice in TARGET's rendered manifests, before they reach a cluster.

    TARGET is resolved as for `kubectl gitops diff` (App of Apps followed, every source type rendered);
    no cluster is needed. Rules: secret-in-git (a Secret with data; SealedSecrets, ExternalSecrets and
    SOPS-encrypted files are fine), image-latest (tag latest, or no tag and no digest),
    pull-always-mutable-tag, no-resources, prod-without-sync-window, prod-automated-without-deny-window,
    prod-single-replica (apps whose name, namespace, cluster or path says prod or production),
    automated-without-self-heal, prune-without-destination-limits, app-code-in-config-repo, and
    invalid-manifest (what diff and sync would refuse, every one collected). A finding names its rule,
    severity, file and line, object, and how to fix it; no finding ever shows a Secret value.

    Configuration: .gitops/lint.yaml at the repository root (disable: [rule…], severity: {rule: level},
    production: [word…]); an object or Application annotated kubectl-gitops.io/lint-disable: "rule,…"
    (or "all") is exempt from those rules.

    Exit status: 0 no finding at or above --severity, 1 findings, 2 error.
    """
    from kubectl_gitops.lint.output import render
    from kubectl_gitops.lint.rules import Severity
    from kubectl_gitops.lint.run import lint_target

    findings = lint_target(target, projects_dir, progress)
    sys.stdout.write(render(findings, output))
    threshold = Severity[severity.upper()]
    return 1 if any(f.severity >= threshold for f in findings) else 0
