"""scripts/local-cluster reserves every port a cluster takes, so that another local cluster (a test run
beside this one) never picks it, even while the first cluster's API server is down for a restart on
that port. No control plane: the port picker alone, on two ports."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import socket
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "local-cluster"


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("local_cluster", str(SCRIPT))
    spec = importlib.util.spec_from_loader("local_cluster", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _two_free_ports() -> list[int]:
    socks = [socket.socket() for _ in range(2)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return sorted(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def test_a_port_held_by_one_cluster_is_never_picked_by_another(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    lc = _script()
    ports = _two_free_ports()
    monkeypatch.setattr(lc, "PORTS", ports)
    monkeypatch.setattr(lc, "RESERVED", tmp_path / "reserved")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    monkeypatch.setenv("LOCAL_CLUSTER_DIR", str(first))
    mine = lc.free_port()
    # Nothing listens on it (the API server is down), yet the second cluster gets the other port.
    monkeypatch.setenv("LOCAL_CLUSTER_DIR", str(second))
    assert {lc.free_port() for _ in range(20)} == set(ports) - {mine}

    shutil.rmtree(first)  # its state is gone (down, or a deleted temp dir): the reservation is stale
    assert mine in {lc.free_port() for _ in range(40)}

    lc.release_ports(str(second.resolve()))
    assert not list((tmp_path / "reserved").iterdir())
