#!/usr/bin/env python3
"""Benchmark `kubectl gitops diff` and `kubectl gitops sync` against kubectl on one local API server.

    make bench                                        # N=1000, diff and sync
    .venv/bin/python bench/run.py -n 300 --runs 5 --only sync

Starts its own control plane (scripts/local-cluster, state in a temp dir) and generates a repo of N
objects across ten kinds (bench/gen.py). Every figure is the median of the timed runs, with the API
requests sent (ours prints them; kubectl's are counted from its -v=6 log, in a separate run so logging
does not slow the timed ones) and the peak RSS of the process tree. Never a test: figures depend on the
machine.

diff: the repo is applied once as this tool's field manager (the state a sync leaves); then
`kubectl gitops diff` vs `kubectl diff --server-side` with no change, and after changing 10 % of the
objects.

sync: before each first-sync run the generated namespaces are deleted and created again, and the
control plane is left to go quiet. First sync: `kubectl gitops sync --wait` (it waits until the workloads
are healthy) vs `kubectl apply --server-side` (which does not wait), and vs that followed by `kubectl wait`
on the Deployments and StatefulSets (like for like); the time until our sync started its health wait is
shown too, and the floor: the dry-run and apply requests alone (bench/floor.py). No-change sync: each
tool again once both have applied everything. Commands take turns within each round of runs.

More scenarios, each its own make target: bench/appofapps.py (a no-change diff of 10,000 objects in 100
Applications, make bench-appofapps), bench/helm.py (make bench-helm), bench/clusters.py (make bench-clusters).
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import gen

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = ROOT / "scripts" / "local-cluster"
FLOOR = ROOT / "bench" / "floor.py"
OUR_REQUESTS = re.compile(r"^(\d+) API requests(?: \((\d+) writes\))?", re.M)
KUBECTL_RESPONSE = re.compile(r'"Response" verb="([A-Z]+)" url="([^"]*)"')  # one -v=6 line per response
OUR_HEALTH_WAIT = "to become healthy"  # our sync's progress line once it waits for health
REQUEST_TARGET = "2 × kinds + 10"
TIMEOUT = "900"  # seconds a sync or wait may take: generous, the control plane's controllers set the pace
QUIET_CPU = 0.1  # the control plane is quiet below this many CPU-seconds per second

Step = tuple[str, ...]


@dataclass(frozen=True)
class Command:
    """One measured command: its steps run one after another (wall times add up, RSS is the peak)."""

    label: str
    steps: tuple[Step, ...]
    ours: bool = False  # prints "N API requests (W writes)" itself; otherwise kubectl, counted with -v=6

    def counting(self) -> tuple[Step, ...]:
        return self.steps if self.ours else tuple((*s, "-v=6") for s in self.steps)


@dataclass
class Run:
    wall: float
    rss_kb: int
    returncode: int
    stderr: str
    # (seconds since the start, line) for each stderr line, as it arrived
    lines: list[tuple[float, str]] = field(default_factory=list)

    def first(self, text: str) -> float | None:
        return next((t for t, line in self.lines if text in line), None)


def measure(steps: tuple[Step, ...], env: dict[str, str]) -> Run:
    """Run the steps to completion; the wall time, and the peak RSS of each process tree: the larger of
    its biggest process's (os.wait4) and the most its processes held together (sampled)."""
    start = time.perf_counter()
    run = Run(0.0, 0, 0, "")
    for argv in steps:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        reader = threading.Thread(target=_stamp_lines, args=(proc.stderr, start, run.lines))
        reader.start()
        done, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_sample_rss, args=(proc.pid, done, peak))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        reader.join()
        proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        run.rss_kb = max(run.rss_kb, usage.ru_maxrss, peak[0])
        run.returncode = proc.returncode
        if proc.returncode != 0:  # a later step never runs after a failed one
            break
    run.wall = time.perf_counter() - start
    run.stderr = "".join(line for _, line in run.lines)
    return run


def _sample_rss(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Every 20 ms until `done`: the RSS of pid and its descendants together, the most in peak[0] (KiB)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    while not done.wait(0.02):
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page_kb
                for task in os.listdir(f"/proc/{p}/task"):
                    todo += map(int, Path(f"/proc/{p}/task/{task}/children").read_text().split())
            except (OSError, ValueError, IndexError):  # gone meanwhile
                continue
        peak[0] = max(peak[0], total)


def _stamp_lines(stream: IO[bytes], start: float, out: list[tuple[float, str]]) -> None:
    for raw in stream:
        out.append((time.perf_counter() - start, raw.decode(errors="replace")))


@dataclass
class Result:
    label: str
    wall: float | None  # median seconds
    requests: int | None = None
    writes: int | None = None  # requests that change the cluster (not GETs, not dry-runs)
    rss_mb: float | None = None
    exit: int | None = None


def bench(cmds: list[Command], env: dict[str, str], runs: int, *, before: Callable[[], None] | None = None,
          exits: tuple[int, ...] = (0,)) -> list[tuple[Result, list[Run]]]:
    """`runs` rounds of timed runs, each run after `before`; the commands take turns within a round, so
    a machine whose speed drifts (a shared VM) favours none of them. Then the requests are counted
    (kubectl: one more run with -v=6)."""
    timed: dict[str, list[Run]] = {c.label: [] for c in cmds}
    for _ in range(runs):
        for cmd in cmds:
            if before:
                before()
            timed[cmd.label].append(measure(cmd.steps, env))
    return [_result(cmd, timed[cmd.label], env, before, exits) for cmd in cmds]


def _result(cmd: Command, timed: list[Run], env: dict[str, str], before: Callable[[], None] | None,
            exits: tuple[int, ...]) -> tuple[Result, list[Run]]:
    codes = {r.returncode for r in timed}
    if len(codes) != 1 or not codes <= set(exits):
        raise SystemExit(f"{cmd.label} failed: exit {codes}\n{timed[-1].stderr[-2000:]}")
    if cmd.ours:
        m = OUR_REQUESTS.search(timed[-1].stderr)
        requests = int(m.group(1)) if m else -1
        writes = int(m.group(2)) if m and m.group(2) else None
    else:
        if before:
            before()
        responses = KUBECTL_RESPONSE.findall(measure(cmd.counting(), env).stderr)
        requests = len(responses)
        writes = sum(1 for verb, url in responses if verb != "GET" and "dryRun=" not in url)
    result = Result(cmd.label, statistics.median(r.wall for r in timed), requests, writes,
                    max(r.rss_kb for r in timed) / 1024, timed[0].returncode)
    print(f"  {cmd.label}: {result.wall:.2f} s", file=sys.stderr)
    return result, timed


# -- the control plane ---------------------------------------------------------------------------------

@dataclass
class Cluster:
    env: dict[str, str]
    pids: list[int]

    def kubectl(self, *args: str) -> None:
        subprocess.run(["kubectl", *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def settle(self, timeout: float = 120.0) -> None:
        """Wait until the control plane is quiet (two quiet seconds in a row): controllers still
        catching up with the last run would slow the next one down."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2 and time.monotonic() < deadline:
            before = self._cpu_seconds()
            time.sleep(1)
            quiet = quiet + 1 if self._cpu_seconds() - before < QUIET_CPU else 0

    def _cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / os.sysconf("SC_CLK_TCK")

    def recreate_namespaces(self, namespaces: list[str]) -> None:
        """A freshly deleted and created set of namespaces: an empty cluster for the repo."""
        self.kubectl("delete", "namespace", "--ignore-not-found", "--wait", *namespaces)
        for ns in namespaces:
            self.kubectl("create", "namespace", ns)
        self.settle()


def cluster_up(state: Path) -> Cluster:
    env = {**os.environ, "LOCAL_CLUSTER_DIR": str(state)}
    subprocess.run([sys.executable, str(LOCAL_CLUSTER), "up"], env=env, check=True)
    st = json.loads((state / "state.json").read_text())
    venv_bin = str(Path(sys.executable).parent)
    return Cluster({**env, "KUBECONFIG": st["kubeconfig"], "PATH": f"{venv_bin}:{st['bin_dir']}:{env['PATH']}",
                    "NO_COLOR": "1"}, list(st["pids"].values()))


def cluster_down(state: Path) -> None:
    subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"], check=False,
                   env={**os.environ, "LOCAL_CLUSTER_DIR": str(state)})


def byte_compile() -> None:
    """Byte-compile like `pip install` does: an editable install under PYTHONDONTWRITEBYTECODE would
    otherwise compile every module of ours on every run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lib")], check=True,
                   stdout=subprocess.DEVNULL)


# -- the scenarios -------------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    results: list[Result]
    ratios: list[tuple[Result, Result]]  # (ours, kubectl): a wall-time ratio row each


@dataclass
class Part:
    scenarios: list[Scenario]
    targets: str


def diff_part(cluster: Cluster, repo: Path, args: argparse.Namespace) -> Part:
    gen.generate(repo, args.n, args.namespaces)
    cluster.recreate_namespaces(gen.namespaces(args.namespaces))
    cluster.kubectl("apply", "--server-side", "--field-manager=kubectl-gitops", "-f", str(repo))
    cluster.settle()
    ours = Command("kubectl gitops diff", (("kubectl", "gitops", "diff", str(repo), "-o", "table"),), ours=True)
    theirs = Command("kubectl diff --server-side",
                     (("kubectl", "diff", "--server-side", "--force-conflicts", "-f", str(repo)),))

    def scenario(name: str) -> Scenario:
        (a, _), (b, _) = bench([ours, theirs], cluster.env, args.runs, exits=(0, 1))
        return Scenario(name, [a, b], [(a, b)])

    scenarios = [scenario("diff, no change")]
    changed = gen.change(repo, args.change)
    scenarios.append(scenario(f"diff, {len(changed)} changed"))
    budget = 2 * len(gen.KINDS) + 10
    sent = scenarios[0].results[0].requests or 0
    worst = max(_ratio(a, b) for s in scenarios for a, b in s.ratios)
    return Part(scenarios, f"diff targets: ratio <= 0.2 in both scenarios ({_met(worst <= 0.2)}); a no-change "
                           f"diff sends <= {REQUEST_TARGET} = {budget} requests (sent {sent}: {_met(sent <= budget)})")


def sync_part(cluster: Cluster, repo: Path, args: argparse.Namespace) -> Part:
    gen.generate(repo, args.n, args.namespaces)
    nss = gen.namespaces(args.namespaces)

    def empty() -> None:
        cluster.recreate_namespaces(nss)

    selector = "app.kubernetes.io/part-of=bench"
    apply: Step = ("kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(repo), "--recursive")
    kubectl_apply = Command("kubectl apply --server-side", (apply,))
    kubectl_apply_wait = Command("kubectl apply --server-side; kubectl wait", (
        apply,
        ("kubectl", "wait", "deployment", "-A", "-l", selector, "--for=condition=Available", f"--timeout={TIMEOUT}s"),
        ("kubectl", "wait", "statefulset", "-A", "-l", selector, "--for=jsonpath={.status.observedGeneration}=1",
         f"--timeout={TIMEOUT}s")))
    ours = Command("kubectl gitops sync", (("kubectl", "gitops", "sync", str(repo), "--wait", "--timeout", TIMEOUT),),
                   ours=True)
    floor = Command("floor: dry-run all, then apply all by kind", ((sys.executable, str(FLOOR), str(repo)),),
                    ours=True)

    (first_kubectl, _), (first_kubectl_wait, _), (first_ours, runs), (first_floor, _) = bench(
        [kubectl_apply, kubectl_apply_wait, ours, floor], cluster.env, args.runs, before=empty)
    # No change: both tools have applied everything (each owns its fields; sharing changes neither).
    for step in (*ours.steps, *kubectl_apply.steps):
        subprocess.run(step, env=cluster.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (again_ours, _), (again_kubectl, _) = bench([ours, kubectl_apply], cluster.env, args.runs, before=cluster.settle)

    # Until the health wait: the applies are done (a run that had nothing to wait for counts whole).
    until_wait = Result("kubectl gitops sync, until its health wait",
                        statistics.median(r.first(OUR_HEALTH_WAIT) or r.wall for r in runs))
    first = Scenario("sync, first (empty namespaces)",
                     [first_ours, until_wait, first_floor, first_kubectl, first_kubectl_wait],
                     [(first_ours, first_kubectl), (first_ours, first_kubectl_wait), (until_wait, first_kubectl),
                      (first_floor, first_kubectl)])
    again = Scenario("sync, no change", [again_ours, again_kubectl], [(again_ours, again_kubectl)])
    r_first, r_again = _ratio(first_ours, first_kubectl), _ratio(again_ours, again_kubectl)
    return Part([first, again], f"sync targets: first sync ratio <= 0.33 vs kubectl apply ({_met(r_first <= 0.33)}); "
                                f"no-change sync ratio <= 0.1 ({_met(r_again <= 0.1)}) with zero writes "
                                f"(sent {again_ours.writes}: {_met(again_ours.writes == 0)})")


def _ratio(ours: Result, kubectl: Result) -> float:
    return (ours.wall or 0.0) / (kubectl.wall or float("inf"))


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _cell(value: float | int | None, fmt: str = "") -> str:
    return "" if value is None else format(value, fmt)


def report(args: argparse.Namespace, parts: list[Part]) -> str:
    from tabulate import tabulate

    rows = []
    for part in parts:
        for s in part.scenarios:
            for r in s.results:
                rows.append([s.name, r.label, _cell(r.wall, ".2f"), _cell(r.requests), _cell(r.writes),
                             _cell(r.rss_mb, ".0f"), _cell(r.exit)])
            for ours, kubectl in s.ratios:
                mine = ours.label.removeprefix("kubectl gitops ")
                rows.append([s.name, f"ratio: {mine} / {kubectl.label}", f"{_ratio(ours, kubectl):.2f}",
                             "", "", "", ""])
    table = tabulate(rows, headers=["SCENARIO", "COMMAND", "WALL s", "REQUESTS", "WRITES", "PEAK RSS MB", "EXIT"],
                     tablefmt="github", disable_numparse=True)
    targets = "\n".join(p.targets for p in parts)
    return (f"N={args.n} objects, {len(gen.KINDS)} kinds, {args.namespaces} namespaces, median of {args.runs} "
            f"timed runs\n\n{table}\n\n{targets}\n")


PARTS = {"diff": diff_part, "sync": sync_part}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of objects (default 1000)")
    ap.add_argument("--namespaces", type=int, default=4, help="namespaces they are spread over (default 4)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command and scenario (default 3)")
    ap.add_argument("--change", type=float, default=0.1, help="fraction changed in the second diff scenario")
    ap.add_argument("--only", choices=sorted(PARTS), help="run only the diff or the sync benchmark")
    args = ap.parse_args(argv)

    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="kubectl-gitops-bench-"))
    state = work / "cluster"
    try:
        cluster = cluster_up(state)
        cluster.env["XDG_CACHE_HOME"] = str(work / "cache")
        parts = []
        for name, part in PARTS.items():
            if args.only in (None, name):
                print(f"{name}:", file=sys.stderr)
                parts.append(part(cluster, work / f"repo-{name}", args))
        print(report(args, parts))
    finally:
        cluster_down(state)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
