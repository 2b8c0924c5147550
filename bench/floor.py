#!/usr/bin/env python3
"""The request floor of a first sync: server-side dry-run every object of DIR, then apply every one
kind by kind, 16 requests in flight, and nothing else (no Git, no compare, no plan, no health). A sync must send
these requests (the issue asks for a dry-run of everything before the first write), so this is how
fast any tool could be on this API server.

    bench/floor.py DIR          prints "N API requests (W writes)" like kubectl gitops
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from kubectl_gitops import yamlio
from kubectl_gitops.cluster import Client, KubeOptions, connect
from kubectl_gitops.live import parallel
from kubectl_gitops.model import Obj
from kubectl_gitops.plan import KIND_RANK


def main(directory: str) -> int:
    client = connect(KubeOptions())
    objs = [o for f in sorted(Path(directory).glob("*.yaml")) for o in yamlio.load_all(f.read_bytes(), str(f))]

    parallel(_writer(client, dry_run=True), objs)
    # Applied kind by kind in the sync's kind order, as a sync does: Deployments and StatefulSets last,
    # so the controllers' work on them does not slow the other applies down.
    kinds = sorted({o["kind"] for o in objs}, key=lambda k: KIND_RANK.get(k, 0))
    for kind in kinds:
        parallel(_writer(client, dry_run=False), [o for o in objs if o["kind"] == kind])
    print(f"{client.requests} API requests ({client.writes} writes)", file=sys.stderr)
    return 0


def _writer(client: Client, *, dry_run: bool) -> Callable[[Obj], Obj]:
    def one(obj: Obj) -> Obj:
        res = client.resource_for(obj["apiVersion"].rpartition("/")[0], obj["kind"])
        assert res is not None, obj["kind"]
        return client.apply(res, obj, dry_run=dry_run)
    return one


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
