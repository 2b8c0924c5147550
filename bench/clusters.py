#!/usr/bin/env python3
"""Benchmark `kubectl gitops diff` over two clusters: the same 1,000-object repo split in two
Applications, one per cluster, diffed together and each alone.

    make bench-clusters                              # N=1000, 3 runs
    .venv/bin/python bench/clusters.py -n 500 --runs 5

Starts two control planes (scripts/local-cluster; the second etcd + kube-apiserver only), merged with
KUBECONFIG=first:second. The repo (bench/gen.py) is split object by object: even ones in app `a`
(destination in-cluster: the first), odd ones in app `b` (destination.name: second). Both are synced
once; then, with no change, `diff apps/` (both, compared concurrently) against `diff apps/a.yaml` and
`diff apps/b.yaml`. The target: both together take at most 0.7 × the sum of each alone. Medians of
--runs rounds (the three commands take turns); never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import gen
from run import LOCAL_CLUSTER, ROOT, Command, bench

ORIGIN = "https://git.example.com/bench/clusters.git"


def app(name: str, path: str, destination: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: {ORIGIN}, targetRevision: HEAD, path: {path}}}\n"
            f"  destination: {{{destination}}}\n")


def write_repo(root: Path, n: int, namespaces: int) -> None:
    files = gen.generate(root / "all", n, namespaces)
    for i, f in enumerate(sorted(files)):
        (root / ("a" if i % 2 == 0 else "b")).mkdir(exist_ok=True)
        f.rename(root / ("a" if i % 2 == 0 else "b") / f.name)
    (root / "all").rmdir()
    (root / "apps").mkdir()
    (root / "apps" / "a.yaml").write_text(app("a", "a", "server: https://kubernetes.default.svc"))
    (root / "apps" / "b.yaml").write_text(app("b", "b", "name: second"))
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"],
                 ["remote", "add", "origin", ORIGIN]):
        subprocess.run([*git, *args], check=True)


def up(state: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LOCAL_CLUSTER_DIR": str(state), **extra}
    subprocess.run([sys.executable, str(LOCAL_CLUSTER), "up"], env=env, check=True)
    return {**env, **json.loads((state / "state.json").read_text())}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="objects in the repo, half per cluster (default 1000)")
    ap.add_argument("--namespaces", type=int, default=4, help="namespaces (default 4)")
    ap.add_argument("--runs", type=int, default=3, help="timed rounds (default 3)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-bench-clusters-") as tmp:
        first_state, second_state, repo = Path(tmp) / "first", Path(tmp) / "second", Path(tmp) / "repo"
        started: list[Path] = []
        try:
            first = up(first_state)
            started.append(first_state)
            second = up(second_state, LOCAL_CLUSTER_MINIMAL="1", LOCAL_CLUSTER_NAME="second")
            started.append(second_state)
            venv_bin = str(Path(sys.executable).parent)
            env = {**os.environ, "KUBECONFIG": f"{first['kubeconfig']}:{second['kubeconfig']}", "NO_COLOR": "1",
                   "PATH": f"{venv_bin}:{first['bin_dir']}:{os.environ['PATH']}"}
            write_repo(repo, args.n, args.namespaces)
            for ctx in ("local", "second"):
                for ns in gen.namespaces(args.namespaces):
                    subprocess.run(["kubectl", "--context", ctx, "create", "namespace", ns], env=env, check=True,
                                   stdout=subprocess.DEVNULL)
            sync = subprocess.run(["kubectl", "gitops", "sync", "apps/", "--timeout", "10m"], env=env, cwd=repo,
                                  capture_output=True, text=True)
            if sync.returncode != 0:
                raise SystemExit(f"the first sync failed ({sync.returncode}): {sync.stderr[-2000:]}")
            os.chdir(repo)
            cmds = [Command(label, (("kubectl", "gitops", "diff", target, "-o", "table"),), ours=True)
                    for label, target in (("both", "apps/"), ("a alone", "apps/a.yaml"), ("b alone", "apps/b.yaml"))]
            results = {r.label: r for r, _ in bench(cmds, env, args.runs)}
            both, a, b = (results[k].wall or 0.0 for k in ("both", "a alone", "b alone"))
            print(f"{args.n} objects split over two clusters (no change), median of {args.runs} runs")
            for label in ("both", "a alone", "b alone"):
                r = results[label]
                print(f"  diff {label:8} {r.wall or 0:6.2f} s  {r.requests} requests  {r.rss_mb or 0:.0f} MB")
            print(f"  both / (a + b) = {both / (a + b):.2f} (target ≤ 0.70): "
                  f"{'met' if both <= 0.7 * (a + b) else 'NOT met'}")
            print(f"  ({statistics.median([a, b]):.2f} s median alone)")
        finally:
            for state in reversed(started):
                subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"],
                               env={**os.environ, "LOCAL_CLUSTER_DIR": str(state)}, check=False)
            os.chdir(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
