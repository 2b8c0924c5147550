"""A long-running watch compares every few seconds: what one compare built must be freed when it is
done, by reference counting, not held by a reference cycle until the garbage collector's next full
pass (which a busy loop reaches seldom, so its memory grew by a compare's worth each time: +38 % RSS
over a 30-minute soak). In-process, against the real control plane: an App of Apps (its children are
found and checked for cycles as the watch does), compared twice with the collector off."""

from __future__ import annotations

import gc
import uuid
from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import Repo, application, configmap
from kubectl_gitops import pipeline
from kubectl_gitops.engine import CompareOptions
from kubectl_gitops.fleet import Fleet, FleetOptions
from kubectl_gitops.kubeconfig import KubeOptions
from kubectl_gitops.state import AppState, ResourceState


def test_a_compare_leaves_no_reference_cycle_holding_its_states(
        cluster: Cluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("apps/root.yaml", application("root", "apps/children", namespace))
    for kid in ("a", "b"):
        repo.write(f"apps/children/{kid}.yaml", application(kid, f"services/{kid}", namespace))
        repo.write(f"services/{kid}/cm.yaml", configmap(namespace, kid, {"v": kid}))
    repo.commit("app of apps")
    monkeypatch.chdir(repo.root)
    cfg = f"mem-{uuid.uuid4().hex[:6]}"
    fleet = Fleet.connect(KubeOptions(kubeconfig=str(cluster.kubeconfig)), FleetOptions(config_namespace=cfg))
    opts = CompareOptions(target="apps/root.yaml", config_namespace=cfg)

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept in gc.garbage to look at
    try:
        for _ in range(2):
            states, _ = pipeline.compare(fleet, opts, lambda msg: None)
            assert sorted(st.app.name for st in states) == ["a", "b", "root"]
            assert all(len(st.resources) == 1 for st in states if st.app.name != "root")
            del states
        gc.collect()
        held = [type(o).__name__ for o in gc.garbage if isinstance(o, (AppState, ResourceState))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert held == [], f"{len(held)} states were held by a reference cycle until a full collection"
