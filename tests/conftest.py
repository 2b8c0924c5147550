"""Shared fixtures. Cluster tests run against the real control plane that `scripts/local-cluster`
starts on 127.0.0.1 for this session; no test ever sees a kubeconfig it did not create."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ("helm_helpers", "proxy_helpers")  # the helm and chart_repo fixtures; proxied

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = ROOT / "scripts" / "local-cluster"
VENV_BIN = Path(sys.executable).parent

# Before anything else: never reach a cluster from the developer's own kubeconfig.
os.environ["KUBECONFIG"] = str(ROOT / "tests" / ".no-kubeconfig")
os.environ.pop("KUBECTL_GITOPS_CONFIG", None)
os.environ["NO_COLOR"] = "1"
for _var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):  # nor a cluster we might run inside
    os.environ.pop(_var, None)


def helm_bin_dir() -> Path:
    """Where `make helm` (scripts/build-helm) puts helm."""
    out = subprocess.run([str(ROOT / "scripts" / "build-helm"), "bin-dir"], capture_output=True, text=True,
                         check=True).stdout.strip()
    return Path(out)


class KubectlFailed(Exception):
    pass


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin_dir: Path
    server: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                context: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig)]
        if context:
            argv += ["--context", context]
        res = subprocess.run([*argv, *args], input=stdin, text=True, capture_output=True)
        if check and res.returncode != 0:  # with kubectl's own words: a bare exit status explains nothing
            raise KubectlFailed(f"kubectl {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")
        return res

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def wait_established(self, crd: str, timeout: float = 30.0) -> None:
        """Until the CRD (`plural.group`) serves its kind. Not `kubectl wait --for=condition=Established`:
        a CRD just created has `status.conditions: null` until the API server's naming controller writes
        them, and kubectl (1.34) then exits 1 at once ('.status.conditions accessor error: <nil>')
        instead of waiting; on a loaded machine a wait can start inside that window."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get("crd", crd).get("status") or {}
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in status.get("conditions") or []):
                return
            assert time.monotonic() < deadline, f"CRD {crd} not Established after {timeout:g}s: {status}"
            time.sleep(0.1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the `cluster` fixture (or the older API server's `old_cluster`), directly or
    through another fixture, is marked `cluster`: `pytest -m "not cluster"` runs the rest with no control
    plane and no Go toolchain."""
    for item in items:
        if {"cluster", "old_cluster", "second_cluster", "own_cluster"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


def restart_api_server(state: Path) -> None:
    """SIGKILL the kube-apiserver of the local cluster in `state` (as a crashed or evicted one: its
    streams just break) and start it again with the same command line, port included; `local-cluster
    down` stops the new one (its PID goes into the state file). The old process's thread-group leader
    shows as a zombie at once while its other threads still hold the listening socket for tens of
    milliseconds (more under load), so the new one starts only once the port can be bound: started
    earlier, it failed with "address already in use" and never came back."""
    state_file = state / "state.json"
    st = json.loads(state_file.read_text())
    pid = st["pids"]["kube-apiserver"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    port = int(st["server"].rsplit(":", 1)[1])
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not _bindable(port):
        assert time.monotonic() < deadline, f"kube-apiserver (PID {pid}) still holds port {port}"
        time.sleep(0.02)
    with open(state / "kube-apiserver.log", "ab") as log:
        new = subprocess.Popen([a.decode() for a in argv], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    st["pids"]["kube-apiserver"] = new.pid
    state_file.write_text(json.dumps(st, indent=2))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the API server's own listener
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _local_cluster(state: Path, **env: str) -> Iterator[Cluster]:
    env = {**os.environ, "LOCAL_CLUSTER_DIR": str(state), **env}
    try:
        subprocess.run([sys.executable, str(LOCAL_CLUSTER), "up"], env=env, check=True)
        st = json.loads((state / "state.json").read_text())
        yield Cluster(Path(st["kubeconfig"]), Path(st["bin_dir"]), st["server"])
    finally:
        subprocess.run([sys.executable, str(LOCAL_CLUSTER), "down"], env=env, check=False)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for c in _local_cluster(tmp_path_factory.mktemp("cluster")):
        os.environ["KUBECONFIG"] = str(c.kubeconfig)
        # kubectl of the cluster's own version for `kubectl kustomize` and the tests.
        # helm (make helm) too: the example repository has a Helm-based service.
        os.environ["PATH"] = f"{VENV_BIN}:{c.bin_dir}:{helm_bin_dir()}:{os.environ['PATH']}"
        yield c


# The fixture matrix's older API server (K8S_OLD_VERSION, tests/controlplane/versions.env), etcd and
# kube-apiserver only: it serves legacy discovery, and aggregated discovery v2beta1 behind a gate.
OLD_APISERVER_FLAGS = {"legacy-discovery": "", "v2beta1-discovery": "--feature-gates=AggregatedDiscoveryEndpoint=true"}


@pytest.fixture(scope="module", params=sorted(OLD_APISERVER_FLAGS))
def old_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _local_cluster(tmp_path_factory.mktemp("old-cluster"), LOCAL_CLUSTER_OLD_APISERVER="1",
                              LOCAL_CLUSTER_APISERVER_FLAGS=OLD_APISERVER_FLAGS[request.param])


@pytest.fixture(scope="session")
def second_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second control plane at once (etcd and kube-apiserver only: its objects need no controllers),
    for Applications whose destination is another cluster. Its kubeconfig names cluster and context
    `second`, so KUBECONFIG=first:second merges the two."""
    yield from _local_cluster(tmp_path_factory.mktemp("second-cluster"), LOCAL_CLUSTER_MINIMAL="1",
                              LOCAL_CLUSTER_NAME="second")


@dataclass(frozen=True)
class Clusters:
    """Both clusters behind one merged kubeconfig: context `local` (current) is the first cluster,
    context `second` the other."""

    first: Cluster
    second: Cluster

    @property
    def kubeconfig(self) -> str:
        return os.pathsep.join((str(self.first.kubeconfig), str(self.second.kubeconfig)))


@pytest.fixture(scope="session")
def clusters(cluster: Cluster, second_cluster: Cluster) -> Clusters:
    return Clusters(cluster, second_cluster)


def argo_crd(kind: str) -> str:
    """Argo CD's CRD for `kind` (Application, AppProject) without its schema: what the tests need of it."""
    plural = f"{kind.lower()}s"
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.argoproj.io}}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {kind.lower()}}}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""


def _installed_argo_crd(cluster: Cluster, kind: str) -> Iterator[None]:
    """The CRD for the test that asks for it only: every other test runs without Argo CD's CRDs."""
    name = f"crd/{kind.lower()}s.argoproj.io"
    cluster.kubectl("apply", "-f", "-", stdin=argo_crd(kind))
    cluster.wait_established(name.removeprefix("crd/"))
    yield
    cluster.kubectl("delete", name, "--timeout=60s")


@pytest.fixture
def application_crd(cluster: Cluster) -> Iterator[None]:
    yield from _installed_argo_crd(cluster, "Application")


@pytest.fixture
def appproject_crd(cluster: Cluster) -> Iterator[None]:
    yield from _installed_argo_crd(cluster, "AppProject")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test; deleted afterwards without waiting."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def run_cli(*argv: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one of our installed executables (plugins/) the way a user would."""
    exe = VENV_BIN / argv[0]
    return subprocess.run([str(exe), *argv[1:]], cwd=cwd, env={**os.environ, **(env or {})},
                          input=stdin, text=True, capture_output=True)
