"""Leaf module: annotation keys, sync-option names and resource identity. Imports nothing of ours."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import GitopsError

Obj = dict[str, Any]  # a Kubernetes object as parsed JSON/YAML

ARGO_GROUP = "argoproj.io"
TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
ANN_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
ANN_HOOK = "argocd.argoproj.io/hook"
ANN_HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
ANN_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
ANN_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
ANN_IGNORE_HEALTHCHECK = "argocd.argoproj.io/ignore-healthcheck"
ANN_HELM_HOOK = "helm.sh/hook"
ANN_HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FIELD_MANAGER = "kubectl-gitops"


@dataclass(frozen=True, order=True)
class ResourceKey:
    """Identity of an object: what the tracking id encodes. Core group is ""; cluster-scoped: ns ""."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        gk = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{gk} {ns}{self.name}"

    @property
    def tracking_suffix(self) -> str:
        return f"{self.group}/{self.kind}:{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Manifest:
    obj: Obj
    origin: str  # the file (or kustomize directory) it came from, for messages


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def key_of(obj: Obj, default_namespace: str = "") -> ResourceKey:
    meta = obj.get("metadata") or {}
    return ResourceKey(
        group=group_of(obj.get("apiVersion", "")),
        kind=obj.get("kind", ""),
        namespace=meta.get("namespace") or default_namespace,
        name=meta.get("name") or meta.get("generateName") or "",
    )


def is_secret(obj: Obj) -> bool:
    """A core Secret (apiVersion v1): the kind whose data is never shown or cached."""
    return obj.get("kind") == "Secret" and group_of(str(obj.get("apiVersion", "v1"))) == ""


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def unknown_kind(key: ResourceKey, where: str) -> GitopsError:
    gk = f"{key.kind}.{key.group}" if key.group else key.kind
    hint = (f"install the CustomResourceDefinition for {gk} first" if key.group
            and "." in key.group else "check apiVersion and kind")
    return GitopsError(f"{where}: the cluster does not know kind {gk} ({key})", hint=hint)


def tracking_id(app: str, key: ResourceKey) -> str:
    return f"{app}:{key.tracking_suffix}"


def owning_app(obj: Obj, key: ResourceKey) -> str | None:
    """The app named by the object's tracking id, if that id describes this very object.

    A tracking id copied onto another object (e.g. by a controller) does not make it owned.
    """
    value = annotations_of(obj).get(TRACKING_ID)
    if not value or ":" not in value:
        return None
    app, _, rest = value.partition(":")
    return app if rest == key.tracking_suffix else None


# Sync option names (annotation argocd.argoproj.io/sync-options or spec.syncPolicy.syncOptions).
PRUNE, PRUNE_LAST, PRUNE_PROPAGATION = "Prune", "PruneLast", "PrunePropagationPolicy"
REPLACE, SERVER_SIDE_APPLY, FORCE, VALIDATE = "Replace", "ServerSideApply", "Force", "Validate"
CREATE_NAMESPACE, APPLY_OUT_OF_SYNC_ONLY = "CreateNamespace", "ApplyOutOfSyncOnly"
FAIL_ON_SHARED_RESOURCE, RESPECT_IGNORE_DIFFERENCES = "FailOnSharedResource", "RespectIgnoreDifferences"
SKIP_DRY_RUN_ON_MISSING, DELETE = "SkipDryRunOnMissingResource", "Delete"
KNOWN_OPTIONS = frozenset({PRUNE, PRUNE_LAST, PRUNE_PROPAGATION, REPLACE, SERVER_SIDE_APPLY, FORCE, VALIDATE,
                           CREATE_NAMESPACE, APPLY_OUT_OF_SYNC_ONLY, FAIL_ON_SHARED_RESOURCE,
                           RESPECT_IGNORE_DIFFERENCES, SKIP_DRY_RUN_ON_MISSING, DELETE})


@dataclass(frozen=True)
class SyncOptions:
    """Parsed `Name=value` sync options; object-level values win over app-level ones."""

    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str], where: str) -> SyncOptions:
        out: dict[str, str] = {}
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            if not sep or name not in KNOWN_OPTIONS:
                raise GitopsError(f"{where}: unknown sync option {item!r}",
                                  hint=f"known: {', '.join(sorted(KNOWN_OPTIONS))}")
            out[name] = value
        return cls(tuple(out.items()))

    def merged(self, obj_level: SyncOptions) -> SyncOptions:
        return SyncOptions(tuple({**dict(self.values), **dict(obj_level.values)}.items()))

    def get(self, name: str) -> str | None:
        return dict(self.values).get(name)

    def is_true(self, name: str) -> bool:
        return (self.get(name) or "").lower() == "true"

    def is_false(self, name: str) -> bool:
        return (self.get(name) or "").lower() == "false"


def object_options(obj: Obj, where: str) -> SyncOptions:
    return SyncOptions.parse(annotations_of(obj).get(ANN_SYNC_OPTIONS, "").split(","), where)


# -- what an object's Argo CD annotations say, checked once for diff and sync alike ----------------

HOOK_TYPES = ("PreSync", "Sync", "PostSync", "SyncFail")  # in phase order
HOOK_SKIP = "Skip"
HELM_HOOKS = {"pre-install": "PreSync", "pre-upgrade": "PreSync", "post-install": "PostSync",
              "post-upgrade": "PostSync"}
BEFORE_HOOK_CREATION, HOOK_SUCCEEDED, HOOK_FAILED = "BeforeHookCreation", "HookSucceeded", "HookFailed"
DELETE_POLICIES = (BEFORE_HOOK_CREATION, HOOK_SUCCEEDED, HOOK_FAILED)


def is_hook(obj: Obj) -> bool:
    ann = annotations_of(obj)
    return ANN_HOOK in ann or (ANN_HELM_HOOK in ann and "crd-install" not in ann[ANN_HELM_HOOK])


def sync_wave(obj: Obj, where: str) -> int:
    """`argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0."""
    ann = annotations_of(obj)
    raw = ann.get(ANN_SYNC_WAVE, ann.get(ANN_HELM_HOOK_WEIGHT, "0"))
    try:
        return int(str(raw).strip())
    except ValueError:
        name = ANN_SYNC_WAVE if ANN_SYNC_WAVE in ann else ANN_HELM_HOOK_WEIGHT
        raise GitopsError(f"{where}: {name} {raw!r} is not an integer") from None


def hook_types(obj: Obj, where: str) -> tuple[str, ...]:
    """Hook types of an object: () for a non-hook, ("Skip", …) for one never applied."""
    ann = annotations_of(obj)
    if ANN_HOOK in ann:
        found = tuple(p.strip() for p in ann[ANN_HOOK].split(",") if p.strip())
        unknown = [p for p in found if p not in HOOK_TYPES and p != HOOK_SKIP]
        if unknown:
            raise GitopsError(f"{where}: unknown hook type {unknown[0]!r}",
                              hint=f"one of {', '.join(HOOK_TYPES)}, {HOOK_SKIP}")
        return found
    if ANN_HELM_HOOK in ann:
        return tuple(sorted({HELM_HOOKS[h.strip()] for h in ann[ANN_HELM_HOOK].split(",")
                             if h.strip() in HELM_HOOKS}))
    return ()


def hook_delete_policies(obj: Obj, where: str) -> frozenset[str]:
    raw = annotations_of(obj).get(ANN_HOOK_DELETE_POLICY, "")
    found = frozenset(p.strip() for p in raw.split(",") if p.strip())
    unknown = sorted(found - set(DELETE_POLICIES))
    if unknown:
        raise GitopsError(f"{where}: unknown {ANN_HOOK_DELETE_POLICY} {unknown[0]!r}",
                          hint=f"one of {', '.join(DELETE_POLICIES)}")
    return found or frozenset({BEFORE_HOOK_CREATION})


def check_sync_annotations(obj: Obj, where: str) -> None:
    """Everything sync will read from a desired object's annotations and name, checked when it is read,
    so diff refuses what sync would refuse, with the same message."""
    sync_wave(obj, where)
    object_options(obj, where)
    if is_hook(obj):
        hook_types(obj, where)
        hook_delete_policies(obj, where)
    elif not (obj.get("metadata") or {}).get("name"):
        raise GitopsError(f"{where}: metadata.generateName without metadata.name is only for hooks "
                          "(a new object every sync could never be in sync or pruned)",
                          hint="give it a metadata.name, or make it a hook")


def pod_specs(obj: Obj) -> list[Obj]:
    """The pod specs an object runs: a Pod's own, a workload's template, a CronJob's job template."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    if obj.get("kind") == "Pod":
        return [spec]
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    template = spec.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    return [pod] if isinstance(pod, dict) else []


def container_images(obj: Obj) -> list[str]:
    """Every image an object's pods run (init containers included), in order, without repeats."""
    out: list[str] = []
    for pod in pod_specs(obj):
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            image = c.get("image") if isinstance(c, dict) else None
            if isinstance(image, str) and image not in out:
                out.append(image)
    return out
