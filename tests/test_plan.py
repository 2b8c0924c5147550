"""Pure sync planning: ordering, hooks, waves, options, prune decisions."""

from __future__ import annotations

import pytest

from kubectl_gitops import plan
from kubectl_gitops.apps import App, Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Manifest, SyncOptions, key_of, sync_wave
from kubectl_gitops.state import AppState, ResourceState, SyncRequest, SyncStatus


def obj(kind: str, name: str, ns: str = "app", ann: dict | None = None, api: str = "v1", **extra: object) -> dict:
    meta = {"name": name, "annotations": ann or {}}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": meta, **extra}


def task(o: dict, phase: str = plan.SYNC) -> plan.SyncTask:
    return plan.SyncTask(app="a", key=key_of(o), phase=phase, wave=sync_wave(o, "t"), obj=o)


def names(tasks: list[plan.SyncTask]) -> list[str]:
    return [f"{t.phase}/{t.wave}/{t.key.kind}/{t.key.name}" for t in tasks]


def test_order_is_phase_wave_kind_then_name() -> None:
    tasks = [task(obj("Deployment", "b", api="apps/v1")), task(obj("ConfigMap", "z")), task(obj("ConfigMap", "a")),
             task(obj("Widget", "w", api="example.com/v1")), task(obj("Service", "s")),
             task(obj("Job", "pre", api="batch/v1"), plan.PRE_SYNC),
             task(obj("ConfigMap", "late", ann={"argocd.argoproj.io/sync-wave": "-2"}))]
    assert names(plan.order(tasks)) == [
        "PreSync/0/Job/pre", "Sync/-2/ConfigMap/late", "Sync/0/ConfigMap/a", "Sync/0/ConfigMap/z",
        "Sync/0/Service/s", "Sync/0/Deployment/b", "Sync/0/Widget/w"]


def test_namespace_and_crd_move_before_their_first_user_whatever_their_wave() -> None:
    ns = task(obj("Namespace", "app", ns="", ann={"argocd.argoproj.io/sync-wave": "5"}))
    crd = task(obj("CustomResourceDefinition", "widgets.example.com", ns="", api="apiextensions.k8s.io/v1",
                   ann={"argocd.argoproj.io/sync-wave": "9"},
                   spec={"group": "example.com", "names": {"kind": "Widget"}}))
    w = task(obj("Widget", "w", api="example.com/v1", ann={"argocd.argoproj.io/sync-wave": "1"}))
    cm = task(obj("ConfigMap", "c", ann={"argocd.argoproj.io/sync-wave": "3"}))
    assert names(plan.order([cm, crd, w, ns])) == [
        "Sync/1/Namespace/app", "Sync/1/CustomResourceDefinition/widgets.example.com", "Sync/1/Widget/w",
        "Sync/3/ConfigMap/c"]


def test_hook_phases_helm_mapping_skip_and_delete_policies() -> None:
    opts = SyncOptions()
    both = obj("Job", "j", ann={"argocd.argoproj.io/hook": "PreSync,PostSync",
                                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"})
    assert [t.phase for t in plan.hook_tasks("a", both, "f", opts)] == ["PreSync", "PostSync"]
    assert plan.hook_tasks("a", both, "f", opts)[0].delete_policies == {"HookSucceeded"}
    helm = obj("Job", "h", ann={"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-3"})
    [t] = plan.hook_tasks("a", helm, "f", opts)
    assert (t.phase, t.wave, t.delete_policies) == ("PreSync", -3, {"BeforeHookCreation"})
    assert plan.hook_tasks("a", obj("Job", "s", ann={"argocd.argoproj.io/hook": "Skip"}), "f", opts) == []
    with pytest.raises(GitopsError, match="unknown hook type 'PreSink'"):
        plan.hook_tasks("a", obj("Job", "x", ann={"argocd.argoproj.io/hook": "PreSink"}), "f", opts)


def test_generate_name_hooks_get_a_fresh_name_each_time() -> None:
    o = obj("Job", "", ann={"argocd.argoproj.io/hook": "PostSync"})
    o["metadata"] = {"generateName": "report-", "namespace": "app", "annotations": o["metadata"]["annotations"]}
    [t] = plan.hook_tasks("a", o, "f", SyncOptions())
    first, second = plan.with_generated_name(t), plan.with_generated_name(t)
    assert first.key.name.startswith("report-") and len(first.key.name) == len("report-") + 5
    assert first.key.name != second.key.name and "generateName" not in first.obj["metadata"]


def test_bad_wave_and_unknown_sync_option_are_input_errors() -> None:
    with pytest.raises(GitopsError, match="sync-wave 'soon' is not an integer"):
        sync_wave(obj("ConfigMap", "c", ann={"argocd.argoproj.io/sync-wave": "soon"}), "c.yaml")
    with pytest.raises(GitopsError, match="unknown sync option 'Prun=false'"):
        SyncOptions.parse(["Prun=false"], "c.yaml")


def test_object_options_win_over_app_options() -> None:
    app = SyncOptions.parse(["Prune=true", "Validate=false"], "app")
    merged = app.merged(SyncOptions.parse(["Prune=false"], "obj"))
    assert merged.is_false("Prune") and merged.is_false("Validate")


@pytest.mark.parametrize(("option", "enabled", "confirmed", "allowed"), [
    ("", True, False, True), ("", False, False, False), ("Prune=false", True, True, False),
    ("Prune=confirm", True, False, False), ("Prune=confirm", True, True, True), ("Delete=false", True, True, False)])
def test_prune_decision(option: str, enabled: bool, confirmed: bool, allowed: bool) -> None:
    t = task(obj("ConfigMap", "c"))
    t.options = SyncOptions.parse([option], "t")
    assert plan.prune_decision(t, prune_enabled=enabled, confirmed=confirmed).allowed is allowed


def test_mass_prune_refusal() -> None:
    assert "render is empty" in (plan.mass_prune_refusal(3, 3, 0) or "")
    assert "more than half" in (plan.mass_prune_refusal(3, 5, 2) or "")
    assert plan.mass_prune_refusal(2, 5, 3) is None and plan.mass_prune_refusal(0, 5, 0) is None


def test_prunes_run_highest_wave_first_and_namespaces_last() -> None:
    ts = [task(obj("Namespace", "app", ns="")), task(obj("ConfigMap", "c")),
          task(obj("Deployment", "d", api="apps/v1", ann={"argocd.argoproj.io/sync-wave": "2"}))]
    assert [t.key.kind for t in plan.prune_order(ts)] == ["Deployment", "ConfigMap", "Namespace"]


def _state(*resources: ResourceState, hooks: tuple[dict, ...] = (), auto_prune: bool = False) -> AppState:
    app = App(name="a", source=Source(repo_url="", path="."), auto_prune=auto_prune)
    return AppState(app=app, source_label="work tree", resources=list(resources),
                    hooks=[Manifest(h, "h.yaml") for h in hooks])


def _tracked(o: dict) -> dict:
    o["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = f"a:{key_of(o).tracking_suffix}"
    return o


def test_a_plan_decides_each_prune_once_and_says_what_it_will_do() -> None:
    gone = _tracked(obj("ConfigMap", "gone"))
    kept = _tracked(obj("ConfigMap", "kept", ann={"argocd.argoproj.io/sync-options": "Prune=false"}))
    same = _tracked(obj("ConfigMap", "same"))
    state = _state(
        ResourceState("a", key_of(obj("ConfigMap", "new")), SyncStatus.MISSING, desired=obj("ConfigMap", "new")),
        ResourceState("a", key_of(same), SyncStatus.SYNCED, desired=same, live=same, exact=True),
        ResourceState("a", key_of(gone), SyncStatus.EXTRANEOUS, live=gone),
        ResourceState("a", key_of(kept), SyncStatus.EXTRANEOUS, live=kept))
    p = plan.build(state, SyncRequest(prune=True))
    assert {t.key.name: plan.action(t) for t in (*p.tasks, *p.prunes)} == {
        "new": "create", "same": "unchanged", "gone": "prune", "kept": "pruneSkipped: Prune=false"}
    assert [t.key.name for t in p.to_prune] == ["gone"] and p.has_writes and not p.multi_step
    without = plan.build(state, SyncRequest())
    assert without.to_prune == [] and "pruning disabled" in without.prunes[0].prune_skipped


def test_a_hook_or_a_second_wave_makes_a_sync_multi_step() -> None:
    cm0 = obj("ConfigMap", "c")
    state = _state(ResourceState("a", key_of(cm0), SyncStatus.MISSING, desired=cm0))
    assert not plan.build(state, SyncRequest()).multi_step
    hooked = _state(*state.resources, hooks=(obj("Job", "pre", api="batch/v1",
                                                 ann={"argocd.argoproj.io/hook": "PreSync"}),))
    p = plan.build(hooked, SyncRequest())
    assert p.multi_step and plan.action(p.tasks[0]) == "hook (BeforeHookCreation)"
    assert p.tasks[0].obj["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == "a:batch/Job:app/pre"
    synced = _state(ResourceState("a", key_of(cm0), SyncStatus.SYNCED, desired=_tracked(cm0), live=cm0, exact=True))
    assert not plan.build(synced, SyncRequest()).has_writes
