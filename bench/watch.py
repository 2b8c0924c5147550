#!/usr/bin/env python3
"""Benchmark `kubectl gitops watch` on the 1,000-object repo (issue 17's performance targets).

    make bench-watch                                  # N=1000, the full 30-minute soak
    .venv/bin/python bench/watch.py -n 300 --runs 3 --soak 2m

Starts its own control plane (scripts/local-cluster) with an audit log of the admin user's requests,
so what the watch sends is counted at the API server. The repo (bench/gen.py) lives in a bare "remote"
repository (file://) and is split in ten Applications of N/10 objects (part-0 .. part-9), each with
`automated: {prune: true, selfHeal: true}`, read from a directory of Application files outside Git, as
a watch in a cluster reads them. Changes are made the way a user makes them: `kubectl scale`, a commit
pushed to the remote, a GitHub push webhook (signed with the shared secret). Latencies are seen by a
`kubectl get -w` of the changed object, started before the change: from the line showing the change
(or the end of the push) to the line showing the synced value.

Phase 1, `watch --interval 30s`: the first sync of every app; then idle (requests counted for
--idle); then commits found by polling (--runs, target: interval + 2 s); then self-heal of a
`kubectl scale` of a Deployment, one app per run (each app's first heal: later ones back off).
Phase 2, `watch` with the default interval (3m): commits announced by a webhook (--runs, target
2 s), then the soak: a change every --every seconds (mostly drift, every tenth a commit + webhook)
for --soak, the watch's RSS sampled every 5 s. Never a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import gen
from run import LOCAL_CLUSTER, ROOT, Cluster, cluster_up

APPS = 10
SECRET = "bench-webhook-secret"
WAIT = 120.0  # seconds any one awaited change may take before the run counts as missed
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    users: [admin]
  - level: None
"""
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 90s, 30m, 1h")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]


class Lines:
    """A process's output lines, stamped with time.monotonic() as they arrive."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()

    def wait(self, pred: Callable[[str], bool], since: float = 0.0, timeout: float = WAIT) -> float | None:
        """When the first line after `since` that `pred` accepts arrived; None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hit = next((t for t, line in self.lines if t >= since and pred(line)), None)
                if hit is not None or (left := deadline - time.monotonic()) <= 0:
                    return hit
                self._cond.wait(left)


class Follow:
    """`kubectl get -w` of one object, printing one field per event."""

    def __init__(self, env: dict[str, str], kind: str, ns: str, name: str, jsonpath: str) -> None:
        self.proc = subprocess.Popen(["kubectl", "get", kind, name, "-n", ns, "-w", "-o", f"jsonpath={jsonpath}\n"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.out = Lines(self.proc.stdout)
        if self.out.wait(lambda _: True) is None:
            raise SystemExit(f"kubectl get -w {kind}/{name} printed nothing")

    def __enter__(self) -> Follow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


@dataclass
class Repo:
    """The remote (bare) repository, a clone to commit in, and the Application files (outside Git)."""

    remote: Path
    clone: Path
    apps: Path
    configmaps: list[tuple[str, str, str]] = field(default_factory=list)  # (part, namespace, name)
    deployments: list[tuple[str, str, str]] = field(default_factory=list)
    commits: int = 0

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.clone), "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                        *args], check=True, capture_output=True)

    def bump(self, part: str, name: str) -> str:
        """Change one ConfigMap's greeting, commit and push; the new greeting."""
        self.commits += 1
        path = self.clone / part / f"{name}.yaml"
        value = f"hello from {name} rev {self.commits}"
        path.write_text(re.sub(r"greeting: .*", f"greeting: {value}", path.read_text()))
        self.git("commit", "-q", "-am", f"{name}: rev {self.commits}")
        self.git("push", "-q", "origin", "main")
        return value

    def push_payload(self) -> bytes:
        return json.dumps({"ref": "refs/heads/main", "repository": {
            "clone_url": f"file://{self.remote}", "html_url": "https://git.example.com/bench/watch"}}).encode()


def make_repo(work: Path, n: int, namespaces: int) -> Repo:
    repo = Repo(work / "remote.git", work / "clone", work / "config" / "apps")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo.remote)], check=True)
    files = gen.generate(work / "all", n, namespaces)  # in index order: kinds and namespaces round-robin
    per = max(1, -(-len(files) // APPS))
    for i, f in enumerate(files):
        part = f"part-{i // per}"
        (repo.clone / part).mkdir(parents=True, exist_ok=True)
        f.rename(repo.clone / part / f.name)
        kind, ns = f.name.split("-")[0], gen.namespaces(namespaces)[i % namespaces]
        if kind in ("configmap", "deployment"):
            getattr(repo, kind + "s").append((part, ns, f.stem))
    (work / "all").rmdir()
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "bench")
    repo.git("remote", "add", "origin", f"file://{repo.remote}")
    repo.git("push", "-q", "origin", "main")
    repo.apps.mkdir(parents=True)
    for part in sorted({p for p, _, _ in repo.configmaps + repo.deployments}):
        (repo.apps / f"{part}.yaml").write_text(
            f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {part}}}\nspec:\n"
            f"  project: default\n  source: {{repoURL: 'file://{repo.remote}', path: {part}, targetRevision: main}}\n"
            f"  destination: {{server: 'https://kubernetes.default.svc', namespace: {gen.namespaces(1)[0]}}}\n"
            f"  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}\n")
    return repo


class Watch:
    """A running `kubectl-gitops watch` with its JSON events, metrics and webhook ports; stopped by PID."""

    def __init__(self, env: dict[str, str], repo: Repo, interval: str) -> None:
        self.hook, self.metrics = free_port(), free_port()
        self.proc = subprocess.Popen(
            ["kubectl-gitops", "watch", "apps/", "--interval", interval, "--log-format", "json",
             "--webhook-addr", f"127.0.0.1:{self.hook}", "--metrics-addr", f"127.0.0.1:{self.metrics}"],
            cwd=repo.apps.parent, env={**env, "KUBECTL_GITOPS_WEBHOOK_SECRET_GITHUB": SECRET},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.started = time.monotonic()
        self.log = Lines(self.proc.stderr)

    def event(self, pred: Callable[[dict[str, Any]], bool], since: float = 0.0, timeout: float = WAIT) -> float | None:
        def match(line: str) -> bool:
            try:
                return pred(json.loads(line))
            except ValueError:
                return False
        return self.log.wait(match, since, timeout)

    def events(self, msg: str) -> list[dict[str, Any]]:
        found = []
        for _, line in list(self.log.lines):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("msg") == msg:
                found.append(ev)
        return found

    def push(self, body: bytes) -> None:
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"http://127.0.0.1:{self.hook}/", data=body, method="POST", headers={
            "X-GitHub-Event": "push", "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def scrape(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(kubectl_gitops_\w+) (\S+)$", text, re.M)}

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(line for _, line in self.log.lines[-30:])
            raise SystemExit(f"watch exited with {self.proc.returncode}:\n{tail}")


def synced(app: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("msg") == "synced" and e.get("app") == app


def first_sync(w: Watch, parts: list[str]) -> float:
    for part in parts:
        if w.event(synced(part), timeout=900) is None:
            w.alive()
            raise SystemExit(f"app {part} was not synced within 15 minutes")
    return time.monotonic() - w.started


def heal_once(cluster: Cluster, w: Watch, target: tuple[str, str, str], replicas: int) -> float | None:
    _, ns, name = target
    with Follow(cluster.env, "deployment", ns, name, "{.spec.replicas}") as f:
        cluster.kubectl("scale", "deployment", name, "-n", ns, f"--replicas={replicas}")
        changed = f.out.wait(lambda v: v == str(replicas))
        reverted = f.out.wait(lambda v: v == "0", since=changed or 0.0) if changed else None
    w.alive()
    return None if changed is None or reverted is None else reverted - changed


def commit_once(cluster: Cluster, w: Watch, repo: Repo, target: tuple[str, str, str], webhook: bool) -> float | None:
    part, ns, name = target
    with Follow(cluster.env, "configmap", ns, name, "{.data.greeting}") as f:
        value = repo.bump(part, name)
        made = time.monotonic()
        if webhook:
            w.push(repo.push_payload())
        seen = f.out.wait(lambda v: v == value, timeout=WAIT + 180)
    w.alive()
    return None if seen is None else seen - made


def audit_counts(log: Path, since: int) -> tuple[dict[str, int], int]:
    """The watch's requests in the audit log after byte `since`, by verb (writes: not dry-runs)."""
    data = log.read_bytes()
    counts: dict[str, int] = {}
    for line in data[since:].splitlines():
        ev = json.loads(line)
        if not ev.get("userAgent", "").startswith("kubectl-gitops"):
            continue
        verb = ev["verb"]
        if verb not in WRITE_VERBS | {"list"}:
            verb += " " + (ev.get("objectRef") or {}).get("resource", "")
        if verb in WRITE_VERBS and "dryRun=" in ev.get("requestURI", ""):
            verb += " (dry-run)"
        counts[verb] = counts.get(verb, 0) + 1
    return counts, len(data)


def settle_then_idle(cluster: Cluster, w: Watch, audit: Path, idle: float) -> dict[str, Any]:
    cluster.settle()
    wait = 60.0 - (time.monotonic() - w.started)  # "after its start": from its second minute on
    if wait > 0:
        time.sleep(wait)
    before_metrics = w.scrape()
    _, mark = audit_counts(audit, 0)
    reconciles = len(w.events("reconciled"))
    time.sleep(idle)
    triggers: dict[str, int] = {}
    for ev in w.events("reconciled")[reconciles:]:
        triggers[ev.get("trigger", "")] = triggers.get(ev.get("trigger", ""), 0) + 1
    w.alive()
    counts, _ = audit_counts(audit, mark)
    after_metrics = w.scrape()
    per_min = 60.0 / idle
    return {"counts": {k: v * per_min for k, v in sorted(counts.items())},
            "lists": counts.get("list", 0) * per_min,
            "writes": sum(v for k, v in counts.items() if k in WRITE_VERBS) * per_min,
            "metric lists": after_metrics.get("kubectl_gitops_list_requests", 0)
            - before_metrics.get("kubectl_gitops_list_requests", 0),
            "metric writes": after_metrics.get("kubectl_gitops_write_requests", 0)
            - before_metrics.get("kubectl_gitops_write_requests", 0),
            "reconciles": ", ".join(f"{n} on {t}" for t, n in sorted(triggers.items())) or "none"}


def soak(cluster: Cluster, w: Watch, repo: Repo, seconds: float, every: float) -> dict[str, Any]:
    rng = random.Random(17)
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    changes = commits = 0
    next_sample = start
    while (now := time.monotonic()) - start < seconds:
        if now >= next_sample:
            samples.append((now - start, w.rss_mb()))
            next_sample += 5.0
        if changes % 10 == 9:
            part, _, name = rng.choice(repo.configmaps)
            repo.bump(part, name)
            w.push(repo.push_payload())
            commits += 1
        else:
            _, ns, name = rng.choice(repo.deployments)
            cluster.kubectl("scale", "deployment", name, "-n", ns, f"--replicas={rng.randint(1, 3)}")
        changes += 1
        w.alive()
        time.sleep(max(0.0, every - (time.monotonic() - now)))
    samples.append((time.monotonic() - start, w.rss_mb()))
    at_minute = next(mb for t, mb in samples if t >= min(60.0, seconds / 2))
    end = samples[-1][1]
    return {"minutes": seconds / 60, "changes": changes, "commits": commits, "rss first minute": at_minute,
            "rss end": end, "rss max": max(mb for _, mb in samples), "growth": end / at_minute - 1,
            "syncs": len(w.events("synced")), "sync errors": len(w.events("sync failed") + w.events("sync refused"))}


def _median(xs: list[float | None]) -> str:
    got = [x for x in xs if x is not None]
    missing = len(xs) - len(got)
    text = f"median {statistics.median(got):.2f} s (min {min(got):.2f}, max {max(got):.2f})" if got else "none"
    return text + (f", {missing} of {len(xs)} not seen within {WAIT:.0f} s" if missing else "")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of objects (default 1000)")
    ap.add_argument("--namespaces", type=int, default=4, help="namespaces they are spread over (default 4)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each latency measurement (default 5, at most 10)")
    ap.add_argument("--interval", type=duration, default=30.0, help="phase 1's --interval (default 30s)")
    ap.add_argument("--idle", type=duration, default=120.0, help="how long the idle loop is counted (default 2m)")
    ap.add_argument("--soak", type=duration, default=1800.0, help="soak duration (default 30m)")
    ap.add_argument("--every", type=duration, default=3.0, help="seconds between soak changes (default 3s)")
    args = ap.parse_args(argv)
    args.runs = min(args.runs, APPS)

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lib")], check=True, stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="kubectl-gitops-bench-watch-"))
    state, audit = work / "cluster", work / "audit.log"
    (work / "audit-policy.yaml").write_text(AUDIT_POLICY)
    flags = f"--audit-policy-file={work / 'audit-policy.yaml'} --audit-log-path={audit} --audit-log-format=json"
    watches: list[Watch] = []
    try:
        cluster = cluster_up(state, LOCAL_CLUSTER_APISERVER_FLAGS=flags)
        cluster.env["XDG_CACHE_HOME"] = str(work / "cache")
        for ns in gen.namespaces(args.namespaces):
            cluster.kubectl("create", "namespace", ns)
        repo = make_repo(work, args.n, args.namespaces)
        parts = sorted({p for p, _, _ in repo.deployments})
        by_part = {p: next(t for t in repo.deployments if t[0] == p) for p in parts}
        cms = {p: next(t for t in repo.configmaps if t[0] == p) for p in parts}

        print(f"phase 1: watch --interval {args.interval:g}s", file=sys.stderr)
        w = Watch(cluster.env, repo, f"{args.interval:g}s")
        watches.append(w)
        first = first_sync(w, parts)
        print(f"  first sync of {len(parts)} apps: {first:.1f} s", file=sys.stderr)
        idle = settle_then_idle(cluster, w, audit, args.idle)
        print(f"  idle: {idle}", file=sys.stderr)
        polled = []
        for i in range(args.runs):
            time.sleep(random.uniform(0, args.interval))  # a commit lands at any point of the interval
            polled.append(commit_once(cluster, w, repo, cms[parts[i]], webhook=False))
            print(f"  commit, polled: {polled[-1]}", file=sys.stderr)
        healed = []
        for i in range(args.runs):
            healed.append(heal_once(cluster, w, by_part[parts[i]], replicas=2 + i))
            print(f"  self-heal: {healed[-1]}", file=sys.stderr)
            w.event(synced(parts[i]), since=time.monotonic() - 60)
            time.sleep(2)
        w.stop()

        print("phase 2: watch (default interval), webhook, soak", file=sys.stderr)
        w = Watch(cluster.env, repo, "3m")
        watches.append(w)
        if w.event(lambda e: e.get("msg") == "reconciled", timeout=300) is None:
            w.alive()
        cluster.settle()
        hooked = []
        for i in range(args.runs):
            hooked.append(commit_once(cluster, w, repo, cms[parts[-1 - i]], webhook=True))
            print(f"  commit, webhook: {hooked[-1]}", file=sys.stderr)
            time.sleep(2)
        soaked = soak(cluster, w, repo, args.soak, args.every)
        print(f"  soak: {soaked}", file=sys.stderr)
        w.stop()

        ok = [x for x in healed if x is not None]
        print(f"N={args.n} objects in {len(parts)} apps (automated, prune, selfHeal), {args.runs} runs each\n")
        print(f"first sync of every app by the watch: {first:.1f} s")
        print(f"self-heal of `kubectl scale` (change seen -> reverted): {_median(healed)}: target median <= 2 s "
              f"({_met(bool(ok) and len(ok) == len(healed) and statistics.median(ok) <= 2.0)})")
        bound = args.interval + 2
        print(f"commit synced by polling (--interval {args.interval:g}s; push -> applied): {_median(polled)}: "
              f"target each <= {bound:g} s ({_met(all(x is not None and x <= bound for x in polled))})")
        print(f"commit synced after a webhook (push -> applied): {_median(hooked)}: target each <= 2 s "
              f"({_met(all(x is not None and x <= 2.0 for x in hooked))})")
        print(f"idle loop, per minute over {args.idle:g} s (reconciles: {idle['reconciles']}), at the API server: "
              f"{idle['lists']:g} LIST, {idle['writes']:g} writes; all: "
              + ", ".join(f"{k} {v:g}" for k, v in idle["counts"].items())
              + f"; its metrics: +{idle['metric lists']:g} LIST, +{idle['metric writes']:g} writes "
              f"({_met(idle['lists'] == 0 and idle['writes'] == 0)})")
        print(f"soak {soaked['minutes']:g} min, a change every {args.every:g} s ({soaked['changes']} changes, "
              f"{soaked['commits']} commits + webhooks; {soaked['syncs']} syncs, {soaked['sync errors']} failed): RSS "
              f"{soaked['rss first minute']:.0f} MB after the first minute, {soaked['rss end']:.0f} MB at the end "
              f"({soaked['growth']:+.0%}), max {soaked['rss max']:.0f} MB: target within 20 % "
              f"({_met(abs(soaked['growth']) <= 0.2)})")
    finally:
        for w in watches:
            w.stop()
        subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"], check=False,
                       env={**os.environ, "LOCAL_CLUSTER_DIR": str(state)})
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
