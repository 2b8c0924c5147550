#!/usr/bin/env python3
"""What a Lua health check costs: in this process, and through the worker process the commands use.

    .venv/bin/python bench/lua_checks.py [--checks 2000]

Runs the Certificate check of tests/fixtures/resource_customizations on its "ready" object, best of
three rounds, and times starting a new worker (what a run stuck in a C call or a crash costs on top).
Never a test: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from kubectl_gitops import customizations, lua, luaworker
from kubectl_gitops.health import HealthChecker, HealthConfig

CHECKS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "resource_customizations"
OBJECT = CHECKS / "certs.example.com" / "Certificate" / "testdata" / "ready.yaml"


def per_check_ms(check: Callable[[], object], n: int) -> float:
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            check()
        rounds.append((time.perf_counter() - start) / n * 1000)
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    n = parser.parse_args().checks
    obj = yaml.safe_load(OBJECT.read_text())
    checker = HealthChecker(HealthConfig(bundled=customizations.load(CHECKS)))

    lua.use(None)
    checker.check(obj)
    in_process = per_check_ms(lambda: checker.check(obj), n)

    worker = luaworker.Worker()
    lua.use(worker)
    start = time.perf_counter()
    checker.check(obj)
    first = (time.perf_counter() - start) * 1000
    through_worker = per_check_ms(lambda: checker.check(obj), n)
    print(f"in-process {in_process:.3f} ms/check, worker {through_worker:.3f} ms/check "
          f"(+{through_worker - in_process:.3f}); first check with a new worker {first:.0f} ms")


if __name__ == "__main__":
    main()
