#!/usr/bin/env python3
"""Benchmark a no-change `kubectl gitops diff` of an App of Apps against `kubectl diff --server-side`
on the same manifests: 10,000 objects in 100 Applications, 10 kinds, 10 namespaces.

    make bench-appofapps                                     # 100 apps × 100 objects, 3 runs
    .venv/bin/python bench/appofapps.py --apps 20 --runs 1   # smaller

Starts its own control plane (scripts/local-cluster) with the API server's audit log on (level
Metadata, every request), and writes a git repo: apps/root.yaml, whose path apps/children holds the
100 child Applications; child i puts its objects (bench/gen.py's generators, 10 of each kind) in
namespace bench-(i mod 10), so ten apps share each namespace and every kind. The root is synced once
with `kubectl gitops sync` (the state a sync leaves); then, with no change and the control plane
quiet, `kubectl gitops diff apps/root.yaml` and `kubectl diff --server-side -f services/ --recursive`
take turns, --runs times each.

Requests are what the API server received, read from its audit log by user agent (kubectl-gitops,
kubectl/...): total, LISTs (a LIST's further pages counted apart), dry-runs, writes, and each LIST's
resource and namespace. Peak RSS is that of the process tree (bench/run.py's measure). Targets (issue
11): wall-time ratio <= 0.1, no dry-run, one LIST per kind and namespace in play however many apps
share them (never one kind listed twice in a namespace, nor both cluster-wide and per namespace),
peak RSS <= 300 MB. A benchmark, never a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import gen
from run import ROOT, Cluster, Run, byte_compile, cluster_down, cluster_up, measure

ORIGIN = "https://git.example.com/bench/app-of-apps.git"
KINDS = {**{k: gen.KINDS[k] for k in ("configmap", "secret", "serviceaccount", "role", "rolebinding", "deployment",
                                      "statefulset", "networkpolicy")},
         "service": partial(gen.service, headless=True),  # 1,000 Services: more than the service IP range holds
         "pdb": gen.pod_disruption_budget}  # PodDisruptionBudget: a PVC without a volume keeps its controller busy
AUDIT_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n"
AGENTS = {"ours": "kubectl-gitops", "kubectl": "kubectl/"}  # User-Agent prefixes
TARGET_RATIO, TARGET_RSS_MB = 0.1, 300
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


# -- the repo --------------------------------------------------------------------------------------

def application(name: str, path: str, namespace: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: {ORIGIN}, targetRevision: HEAD, path: {path}}}\n"
            f"  destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}\n")


def write_repo(root: Path, apps: int, per_app: int, namespaces: list[str]) -> None:
    """apps/root.yaml → apps/children/app-NNN.yaml → services/app-NNN/<kind>-NNN.yaml, one object a file."""
    kinds = list(KINDS.items())
    (root / "apps" / "children").mkdir(parents=True)
    (root / "apps" / "root.yaml").write_text(application("root", "apps/children", namespaces[0]))
    for a in range(apps):
        app, ns = f"app-{a:03d}", namespaces[a % len(namespaces)]
        (root / "apps" / "children" / f"{app}.yaml").write_text(application(app, f"services/{app}", ns))
        out = root / "services" / app
        out.mkdir(parents=True)
        for j in range(per_app):
            short, make = kinds[j % len(kinds)]
            (out / f"{short}-{j:03d}.yaml").write_text(make(f"{app}-{short}-{j:03d}", ns))
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"],
                 ["remote", "add", "origin", ORIGIN]):
        subprocess.run([*git, *args], check=True)


# -- what the API server received ------------------------------------------------------------------

@dataclass
class Received:
    """One command's requests, from the audit log."""

    requests: int = 0
    dry_runs: int = 0
    writes: int = 0
    pages: int = 0  # further pages of a LIST (requests with a continue token)
    lists: Counter[tuple[str, str]] = field(default_factory=Counter)  # (resource, namespace or "") -> LISTs
    verbs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (verb, resource) -> requests

    def add(self, event: dict) -> None:
        ref, uri, verb = event.get("objectRef") or {}, event.get("requestURI", ""), event.get("verb", "")
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        self.requests += 1
        self.verbs[(verb, resource or uri.split("?")[0])] += 1
        if "dryRun=" in uri:
            self.dry_runs += 1
        elif verb in WRITE_VERBS:
            self.writes += 1
        if verb == "list":
            if "continue=" in uri:
                self.pages += 1
            else:
                self.lists[(resource, ref.get("namespace", ""))] += 1

    def twice(self) -> list[str]:
        """Kinds listed more than once in one namespace, or both cluster-wide and per namespace."""
        out = [f"{r} in {ns or 'all namespaces'} ×{n}" for (r, ns), n in sorted(self.lists.items()) if n > 1]
        for r in sorted({r for r, _ in self.lists}):
            scopes = {ns for res, ns in self.lists if res == r}
            if "" in scopes and len(scopes) > 1:
                out.append(f"{r} cluster-wide and in {len(scopes) - 1} namespace(s)")
        return out


class Audit:
    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, offset: int, agent: str) -> Received:
        """The requests of user agents starting with `agent` logged after `offset`, once the log is still."""
        size = -1
        while size != self.offset():  # the last events are written as the responses go out
            size = self.offset()
            time.sleep(0.5)
        out = Received()
        with self.path.open("rb") as f:
            f.seek(offset)
            for line in f:
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete" and event.get("userAgent", "").startswith(agent):
                    out.add(event)
        return out


# -- the runs --------------------------------------------------------------------------------------

@dataclass
class Measured:
    label: str
    runs: list[Run] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss_mb(self) -> float:
        return max(r.rss_kb for r in self.runs) / 1024


def timed(cluster: Cluster, audit: Audit, repo: Path, runs: int) -> tuple[Measured, Measured]:
    ours = ("kubectl", "gitops", "diff", "apps/root.yaml", "-o", "table")
    theirs = ("kubectl", "diff", "--server-side", "--force-conflicts", "-f", "services/", "--recursive")
    results = (Measured("kubectl gitops diff apps/root.yaml"), Measured("kubectl diff --server-side"))
    os.chdir(repo)  # measure() runs commands here
    for i in range(runs):
        for m, argv, agent in zip(results, (ours, theirs), AGENTS.values(), strict=True):
            cluster.settle()
            start = audit.offset()
            run = measure((argv,), cluster.env)
            if run.returncode not in (0, 1):
                raise SystemExit(f"{m.label} failed: exit {run.returncode}\n{run.stderr[-2000:]}")
            m.runs.append(run)
            m.received.append(audit.since(start, agent))
            print(f"  run {i + 1}: {m.label}: {run.wall:.2f} s, {m.received[-1].requests} requests, "
                  f"{run.rss_kb / 1024:.0f} MB", file=sys.stderr)
    return results


def report(args: argparse.Namespace, ours: Measured, kubectl: Measured, namespaces: int) -> str:
    rows = ["| command | wall s (median) | requests | LISTs (+ pages) | dry-runs | writes | peak RSS MB |",
            "|---|---|---|---|---|---|---|"]
    for m in (ours, kubectl):
        r = m.received[-1]
        rows.append(f"| {m.label} | {m.wall:.2f} | {r.requests} | {sum(r.lists.values())} (+ {r.pages}) | "
                    f"{r.dry_runs} | {r.writes} | {m.rss_mb:.0f} |")
    ratio = ours.wall / kubectl.wall
    rec = ours.received
    dry_runs = max(r.dry_runs for r in rec)
    twice = sorted({t for r in rec for t in r.twice()})
    scopes = Counter(r for r, _ in rec[-1].lists)
    by_kind = ", ".join(f"{r} {n}" for r, n in sorted(scopes.items()))
    verbs = ", ".join(f"{v} {r} {n}" for (v, r), n in sorted(rec[-1].verbs.items()) if v != "list")

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    targets = [
        f"ratio {ratio:.3f} (target <= {TARGET_RATIO}: {met(ratio <= TARGET_RATIO)})",
        f"dry-runs sent by a no-change diff: {dry_runs} (target 0: {met(dry_runs == 0)})",
        "one LIST per kind and namespace: " + (f"MISSED ({'; '.join(twice)})" if twice else "met"),
        f"peak RSS {ours.rss_mb:.0f} MB (target <= {TARGET_RSS_MB}: {met(ours.rss_mb <= TARGET_RSS_MB)})",
    ]
    return (f"{args.apps} child Applications × {args.per_app} objects = {args.apps * args.per_app} objects, "
            f"{len(KINDS)} kinds, {namespaces} namespaces; median of {args.runs} runs; requests from the API "
            f"server's audit log\n\n" + "\n".join(rows)
            + f"\n\nour LISTs by resource (namespaces or 1 cluster-wide): {by_kind}\nour other requests: {verbs}\n\n"
            + "\n".join(targets) + "\n")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", type=int, default=100, help="child Applications (default 100)")
    ap.add_argument("--per-app", type=int, default=100, help="objects in each, kinds round-robin (default 100)")
    ap.add_argument("--namespaces", type=int, default=10, help="namespaces the apps share (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each command (default 3)")
    args = ap.parse_args(argv)

    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="kubectl-gitops-bench-apps-"))
    state, repo = work / "cluster", work / "repo"
    (work / "audit-policy.yaml").write_text(AUDIT_POLICY)
    audit = Audit(work / "audit.log")
    os.environ["LOCAL_CLUSTER_APISERVER_FLAGS"] = (f"--audit-policy-file={work / 'audit-policy.yaml'} "
                                                   f"--audit-log-path={audit.path} --audit-log-format=json")
    try:
        cluster = cluster_up(state)
        cluster.env["XDG_CACHE_HOME"] = str(work / "cache")
        nss = gen.namespaces(args.namespaces)
        write_repo(repo, args.apps, args.per_app, nss)
        for ns in nss:
            cluster.kubectl("create", "namespace", ns)
        print(f"syncing {args.apps * args.per_app} objects once", file=sys.stderr)
        sync = subprocess.run(["kubectl", "gitops", "sync", "apps/root.yaml", "--timeout", "30m"], env=cluster.env,
                              cwd=repo, capture_output=True, text=True)
        if sync.returncode != 0:
            raise SystemExit(f"the first sync failed ({sync.returncode}): {sync.stderr[-2000:]}")
        ours, kubectl = timed(cluster, audit, repo, args.runs)
        print(report(args, ours, kubectl, len(nss)))
    finally:
        os.chdir(ROOT)
        cluster_down(state)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
