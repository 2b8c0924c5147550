#!/usr/bin/env python3
"""Benchmark Helm rendering: 100 Applications over one chart, each with its own values.

    make bench-helm                                   # 100 apps, 3 runs
    .venv/bin/python bench/helm.py --apps 200 --runs 5

Starts its own control plane (scripts/local-cluster, state in a temp dir), writes a git repository with
one chart and N Applications (different parameters and value files), syncs them once, then times
`kubectl gitops diff apps/` with an empty render cache (the first diff: every chart rendered by helm)
and again with the cache the first left (the second diff of the unchanged repo). The target: the
second takes at most 0.2 × the first. Medians of --runs runs each; never a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from run import LOCAL_CLUSTER, ROOT, cluster_up

ORIGIN = "https://git.example.com/bench/helm.git"
TEMPLATES = {
    "configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
data:
  index: {{ .Values.index | quote }}
  tier: {{ .Values.tier | quote }}
  memory: {{ .Values.memory | quote }}
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name }}}
  ports: [{port: {{ .Values.port }}, targetPort: {{ .Values.port }}}]
""",
}


def write_repo(root: Path, apps: int, namespace: str) -> None:
    chart = root / "charts" / "svc"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: svc\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("index: 0\ntier: standard\nmemory: 64Mi\nport: 8080\n")
    (chart / "values-large.yaml").write_text("tier: large\nmemory: 1Gi\n")
    for name, text in TEMPLATES.items():
        (chart / "templates" / name).write_text(text)
    (root / "apps").mkdir()
    for i in range(apps):
        files = "[values-large.yaml]" if i % 3 == 0 else "[]"
        (root / "apps" / f"svc-{i:03d}.yaml").write_text(f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: svc-{i:03d}}}
spec:
  project: default
  source:
    repoURL: {ORIGIN}
    targetRevision: HEAD
    path: charts/svc
    helm:
      valueFiles: {files}
      parameters: [{{name: index, value: "{i}"}}, {{name: port, value: "{8000 + i}"}}]
  destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
""")
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    subprocess.run([*git, "remote", "add", "origin", ORIGIN], check=True)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr}")
    return wall


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", type=int, default=100, help="Applications over the one chart (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each diff (default 3)")
    args = ap.parse_args(argv)
    helm_dir = subprocess.run([str(ROOT / "scripts" / "build-helm"), "bin-dir"], capture_output=True,
                              text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-bench-helm-") as tmp:
        state, repo, cache = Path(tmp) / "cluster", Path(tmp) / "repo", Path(tmp) / "cache"
        cluster = cluster_up(state)
        try:
            env = {**cluster.env, "PATH": f"{helm_dir}:{cluster.env['PATH']}", "XDG_CACHE_HOME": str(cache)}
            write_repo(repo, args.apps, "bench-helm")
            cluster.kubectl("create", "namespace", "bench-helm")
            diff = ["kubectl", "gitops", "diff", "apps/", "-o", "table"]
            timed(["kubectl", "gitops", "sync", "apps/", "--timeout", "10m"], env, repo)
            cluster.settle()
            first, second = [], []
            for _ in range(args.runs):
                shutil.rmtree(cache, ignore_errors=True)  # the first diff: nothing rendered yet
                first.append(timed(diff, env, repo))
                second.append(timed(diff, env, repo))  # the unchanged repo again
            a, b = statistics.median(first), statistics.median(second)
            print(f"{args.apps} Helm Applications over one chart, median of {args.runs} runs")
            print(f"  first diff (empty cache, helm renders every app): {a:6.2f} s")
            print(f"  second diff (unchanged repo, render cache):       {b:6.2f} s")
            print(f"  ratio {b / a:.2f} (target ≤ 0.20): {'met' if b <= 0.2 * a else 'NOT met'}")
        finally:
            subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"], env={**cluster.env}, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
