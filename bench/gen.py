#!/usr/bin/env python3
"""Generate a config repo of N objects across ten kinds, spread over a few namespaces, for the diff
and sync benchmarks; `--change F` then edits a fraction F of them (a label bump on each).

    bench/gen.py OUT [-n 1000] [--namespaces 4]      write OUT/<kind>-<i>.yaml, one object per file
    bench/gen.py OUT --change 0.1                    change 10 % of the objects written there

Workloads have 0 replicas and no Job is included, so the control plane stays quiet while it is
measured. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

REV_LABEL = "bench.example.com/rev"
NAMESPACE_PREFIX = "bench-"


def _meta(kind: str, api_version: str, name: str, ns: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: {api_version}
        kind: {kind}
        metadata:
          name: {name}
          namespace: {ns}
          labels:
            app.kubernetes.io/part-of: bench
            {REV_LABEL}: "1"
        """)


def _pod_template(name: str) -> str:
    return textwrap.indent(textwrap.dedent(f"""\
        selector:
          matchLabels: {{app: {name}}}
        template:
          metadata:
            labels: {{app: {name}}}
          spec:
            containers:
              - name: app
                image: registry.invalid/{name}:1.0.0
                ports: [{{containerPort: 8080}}]
                resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}
        """), "  ")


def config_map(name: str, ns: str) -> str:
    return _meta("ConfigMap", "v1", name, ns) + f"data:\n  greeting: hello from {name}\n  level: info\n"


def secret(name: str, ns: str) -> str:
    return _meta("Secret", "v1", name, ns) + f"type: Opaque\nstringData:\n  password: pw-{name}\n  user: {name}\n"


def service(name: str, ns: str, *, headless: bool = False) -> str:
    """headless: no cluster IP (the local API server's service range has room for 254)."""
    return (_meta("Service", "v1", name, ns) + "spec:\n" + ("  clusterIP: None\n" if headless else "")
            + f"  selector: {{app: {name}}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n")


def service_account(name: str, ns: str) -> str:
    return _meta("ServiceAccount", "v1", name, ns)


def role(name: str, ns: str) -> str:
    return _meta("Role", "rbac.authorization.k8s.io/v1", name, ns) + textwrap.dedent("""\
        rules:
          - apiGroups: [""]
            resources: [configmaps]
            verbs: [get, list, watch]
        """)


def role_binding(name: str, ns: str) -> str:
    return _meta("RoleBinding", "rbac.authorization.k8s.io/v1", name, ns) + textwrap.dedent(f"""\
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
        subjects: [{{kind: ServiceAccount, name: {name}, namespace: {ns}}}]
        """)


def deployment(name: str, ns: str) -> str:
    return _meta("Deployment", "apps/v1", name, ns) + "spec:\n  replicas: 0\n" + _pod_template(name)


def stateful_set(name: str, ns: str) -> str:
    return (_meta("StatefulSet", "apps/v1", name, ns) + f"spec:\n  replicas: 0\n  serviceName: {name}\n"
            + _pod_template(name))


def pvc(name: str, ns: str) -> str:
    return _meta("PersistentVolumeClaim", "v1", name, ns) + textwrap.dedent("""\
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
        """)


def network_policy(name: str, ns: str) -> str:
    return _meta("NetworkPolicy", "networking.k8s.io/v1", name, ns) + textwrap.dedent(f"""\
        spec:
          podSelector: {{matchLabels: {{app: {name}}}}}
          policyTypes: [Ingress]
          ingress: [{{ports: [{{port: 8080}}]}}]
        """)


def pod_disruption_budget(name: str, ns: str) -> str:
    return _meta("PodDisruptionBudget", "policy/v1", name, ns) + textwrap.dedent(f"""\
        spec:
          maxUnavailable: 1
          selector: {{matchLabels: {{app: {name}}}}}
        """)


KINDS: dict[str, Callable[[str, str], str]] = {
    "configmap": config_map, "secret": secret, "service": service, "serviceaccount": service_account,
    "role": role, "rolebinding": role_binding, "deployment": deployment, "statefulset": stateful_set,
    "pvc": pvc, "networkpolicy": network_policy,
}


def namespaces(count: int) -> list[str]:
    return [f"{NAMESPACE_PREFIX}{i}" for i in range(count)]


def generate(out: Path, n: int, namespace_count: int) -> list[Path]:
    """Write n objects, kinds round-robin, namespaces round-robin; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    kinds = list(KINDS.items())
    nss = namespaces(namespace_count)
    files = []
    for i in range(n):
        short, make = kinds[i % len(kinds)]
        path = out / f"{short}-{i:05d}.yaml"
        path.write_text(make(f"{short}-{i:05d}", nss[i % len(nss)]))
        files.append(path)
    return files


def change(out: Path, fraction: float) -> list[Path]:
    """Bump the rev label on every k-th file (k = 1/fraction), so each kind gets its share."""
    files = sorted(out.glob("*.yaml"))
    step = max(1, round(1 / fraction))
    changed = files[::step]
    for path in changed:
        path.write_text(path.read_text().replace(f'{REV_LABEL}: "1"', f'{REV_LABEL}: "2"'))
    return changed


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", type=int, default=1000, help="number of objects (default 1000)")
    ap.add_argument("--namespaces", type=int, default=4, help="number of namespaces (default 4)")
    ap.add_argument("--change", type=float, metavar="FRACTION", help="change this fraction of the objects")
    args = ap.parse_args(argv)
    if args.change is not None:
        print(f"changed {len(change(args.out, args.change))} objects")
    else:
        print(f"wrote {len(generate(args.out, args.n, args.namespaces))} objects to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
