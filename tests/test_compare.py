"""The no-dry-run fast path of compare, on objects shaped like the API server returns them: it may
only say "in sync" when applying Git's object would certainly change nothing."""

from __future__ import annotations

import copy

from kubectl_gitops.compare import in_sync_without_dry_run, jq_pointers
from kubectl_gitops.model import FIELD_MANAGER, TRACKING_ID


def _desired() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"},
                         "annotations": {TRACKING_ID: "app:apps/Deployment:ns/web"}},
            "spec": {"replicas": 2, "paused": False, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "img:1",
                                                           "ports": [{"containerPort": 80}]}]}}}}


def _live(desired: dict, manager: str = FIELD_MANAGER) -> dict:
    """What the server keeps after our apply: defaults added, server metadata, our managed fields."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": {
        "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {f"f:{TRACKING_ID}": {}}},
        "f:spec": {"f:replicas": {}, "f:paused": {}, "f:selector": {}, "f:template": {"f:spec": {"f:containers": {
            'k:{"name":"c"}': {".": {}, "f:name": {}, "f:image": {}, "f:ports": {
                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}}]
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["imagePullPolicy"] = "IfNotPresent"
    c["ports"][0]["protocol"] = "TCP"
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"replicas": 2}
    return live


def test_defaulted_live_object_is_in_sync() -> None:
    assert in_sync_without_dry_run(_desired(), _live(_desired()))


def test_a_changed_value_is_not() -> None:
    changed = _desired()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    assert not in_sync_without_dry_run(changed, _live(_desired()))


def test_same_value_of_another_json_type_is_not() -> None:
    live = _live(_desired())
    live["spec"]["paused"] = 0  # False == 0 in Python, but applying false would change it
    assert not in_sync_without_dry_run(_desired(), live)
    live = _live(_desired())
    live["spec"]["replicas"] = "2"
    assert not in_sync_without_dry_run(_desired(), live)


def test_a_missing_field_or_list_item_is_not() -> None:
    live = _live(_desired())
    del live["metadata"]["labels"]
    assert not in_sync_without_dry_run(_desired(), live)
    more = _desired()
    more["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s:1"})
    assert not in_sync_without_dry_run(more, _live(_desired()))


def test_a_field_removed_from_git_that_we_applied_is_not() -> None:
    removed = _desired()
    del removed["spec"]["paused"]  # still live and owned by our last apply: the apply would remove it
    assert not in_sync_without_dry_run(removed, _live(_desired()))


def test_without_a_record_of_our_apply_it_is_not() -> None:
    assert not in_sync_without_dry_run(_desired(), _live(_desired(), manager="kubectl"))


def test_jq_pointers_name_what_the_expression_selects_deepest_last_item_first() -> None:
    obj = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "s", "image": "y"},
                                   {"name": "s", "image": "z"}]},
           "metadata": {"annotations": {"example.com/a~b": "1"}}}
    sidecars = '.spec.containers[] | select(.name == "s")'
    assert jq_pointers(obj, sidecars) == ["/spec/containers/2", "/spec/containers/1"]
    assert jq_pointers(obj, f"{sidecars} | .image") == ["/spec/containers/2/image", "/spec/containers/1/image"]
    assert jq_pointers(obj, '.metadata.annotations["example.com/a~b"]') == ["/metadata/annotations/example.com~1a~0b"]
