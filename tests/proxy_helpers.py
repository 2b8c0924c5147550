"""The loopback proxy (faultproxy.py) in front of the session's cluster, with a kubeconfig that points
at it: for tests that inject faults or count what the API server received from us."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import Cluster, run_cli
from faultproxy import FaultProxy, make_cert


@dataclass
class Proxied:
    proxy: FaultProxy
    kubeconfig: Path

    def cli(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        res = run_cli(*argv, "--kubeconfig", str(self.kubeconfig), cwd=cwd)
        assert "Traceback" not in res.stderr, res.stderr
        return res


@pytest.fixture(scope="module")
def proxy_cert(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(cluster.kubeconfig.parent, tmp_path_factory.mktemp("proxy-cert"))


@pytest.fixture
def proxied(cluster: Cluster, proxy_cert: tuple[Path, Path], tmp_path: Path) -> Iterator[Proxied]:
    p = FaultProxy(cluster.server, cluster.kubeconfig.parent / "ca.crt", *proxy_cert)
    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    for c in cfg["clusters"]:
        c["cluster"]["server"] = p.url
    kubeconfig = tmp_path / "proxied.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(cfg))
    yield Proxied(p, kubeconfig)
    p.stop()
