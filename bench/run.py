#!/usr/bin/env python3
"""Benchmark `kubectl gitops diff` against `kubectl diff --server-side` on one local API server.

    make bench                       # N=1000
    .venv/bin/python bench/run.py -n 300 --runs 5

Starts its own control plane (scripts/local-cluster, state in a temp dir), generates a repo of N
objects across ten kinds (bench/gen.py), applies it once as this tool's field manager (the state a
`kubectl gitops sync` leaves), then measures both commands on the same manifests: with no change, and
after changing 10 % of the objects. Per command: median wall time, API requests sent (ours prints
them; kubectl's are counted from its -v=6 log, in a separate run so logging does not slow the timed
ones) and peak RSS. Never a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import gen

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = ROOT / "scripts" / "local-cluster"
OUR_REQUESTS = re.compile(r"^(\d+) API requests", re.M)
KUBECTL_REQUEST = re.compile(r'"Response" verb="[A-Z]+"')  # one -v=6 line per HTTP response
REQUEST_TARGET = "2 × kinds + 10"


@dataclass
class Run:
    wall: float
    rss_kb: int
    returncode: int
    stdout: str
    stderr: str


def measure(argv: list[str], env: dict[str, str]) -> Run:
    """Run to completion; wall time and the peak RSS of this very process tree (os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_maxrss, proc.returncode, out.read().decode(), err.read().decode())


@dataclass
class Result:
    tool: str
    wall: float  # median seconds
    requests: int
    rss_mb: float
    exit: int


def bench_tool(tool: str, argv: list[str], count_argv: list[str], count: re.Pattern[str], env: dict[str, str],
               runs: int) -> Result:
    timed = [measure(argv, env) for _ in range(runs)]
    codes = {r.returncode for r in timed}
    if len(codes) != 1 or codes - {0, 1}:
        raise SystemExit(f"{tool} failed: exit {codes}\n{timed[-1].stderr[-2000:]}")
    counted = measure(count_argv, env)
    if count is OUR_REQUESTS:
        m = count.search(counted.stderr)
        requests = int(m.group(1)) if m else -1
    else:
        requests = len(count.findall(counted.stderr))
    return Result(tool, statistics.median(r.wall for r in timed), requests, max(r.rss_kb for r in timed) / 1024,
                  timed[0].returncode)


def scenario(name: str, repo: Path, env: dict[str, str], runs: int) -> list[Result]:
    ours = ["kubectl", "gitops", "diff", str(repo), "-o", "table"]
    theirs = ["kubectl", "diff", "--server-side", "--force-conflicts", "-f", str(repo)]
    results = [bench_tool("kubectl gitops diff", ours, ours, OUR_REQUESTS, env, runs),
               bench_tool("kubectl diff --server-side", theirs, [*theirs, "-v=6"], KUBECTL_REQUEST, env, runs)]
    print(f"  {name}: done", file=sys.stderr)
    return results


def report(n: int, kinds: int, results: dict[str, list[Result]]) -> str:
    from tabulate import tabulate

    rows = []
    for name, (ours, theirs) in results.items():
        for r in (ours, theirs):
            rows.append([name, r.tool, f"{r.wall:.2f}", r.requests, f"{r.rss_mb:.0f}", r.exit])
        rows.append([name, "ratio (ours / kubectl)", f"{ours.wall / theirs.wall:.2f}", "", "", ""])
    table = tabulate(rows, headers=["SCENARIO", "COMMAND", "WALL s", "REQUESTS", "PEAK RSS MB", "EXIT"],
                     tablefmt="github", disable_numparse=True)
    budget = 2 * kinds + 10
    no_change = results["no change"][0]
    return (f"N={n} objects, {kinds} kinds, median of the timed runs\n\n{table}\n\n"
            f"targets: ratio <= 0.2 in both scenarios; a no-change diff sends <= {REQUEST_TARGET} = {budget} "
            f"requests (sent: {no_change.requests})\n")


def cluster_up(state: Path) -> dict[str, str]:
    env = {**os.environ, "LOCAL_CLUSTER_DIR": str(state)}
    subprocess.run([sys.executable, str(LOCAL_CLUSTER), "up"], env=env, check=True)
    st = json.loads((state / "state.json").read_text())
    venv_bin = str(Path(sys.executable).parent)
    return {**env, "KUBECONFIG": st["kubeconfig"], "PATH": f"{venv_bin}:{st['bin_dir']}:{env['PATH']}",
            "NO_COLOR": "1"}


def kubectl(env: dict[str, str], *args: str) -> None:
    subprocess.run(["kubectl", *args], env=env, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of objects (default 1000)")
    ap.add_argument("--namespaces", type=int, default=4, help="namespaces they are spread over (default 4)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command and scenario (default 3)")
    ap.add_argument("--change", type=float, default=0.1, help="fraction changed in the second scenario")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="kubectl-gitops-bench-"))
    state = work / "cluster"
    try:
        env = cluster_up(state)
        env["XDG_CACHE_HOME"] = str(work / "cache")
        repo = work / "repo"
        gen.generate(repo, args.n, args.namespaces)
        for ns in gen.namespaces(args.namespaces):
            kubectl(env, "create", "namespace", ns)
        kubectl(env, "apply", "--server-side", "--field-manager=kubectl-gitops", "-f", str(repo))
        time.sleep(5)  # let the controllers finish their status updates before measuring
        results = {"no change": scenario("no change", repo, env, args.runs)}
        changed = gen.change(repo, args.change)
        results[f"{len(changed)} changed"] = scenario(f"{len(changed)} changed", repo, env, args.runs)
        print(report(args.n, len(gen.KINDS), results))
    finally:
        subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"], check=False,
                       env={**os.environ, "LOCAL_CLUSTER_DIR": str(state)})
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
