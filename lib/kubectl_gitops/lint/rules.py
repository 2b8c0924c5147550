"""The lint rules: the pitfalls GitOps practice names, checked on rendered manifests. Pure: each rule
is a function of one app's input returning findings; `RULES` is the registry, in report order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import PurePosixPath

from kubectl_gitops.apps import App
from kubectl_gitops.model import Manifest, Obj, annotations_of, key_of, pod_specs
from kubectl_gitops.windows import SyncWindow

ANN_LINT_DISABLE = "kubectl-gitops.io/lint-disable"  # "rule-a,rule-b" or "all", on an object or Application
DEFAULT_PRODUCTION = ("prod", "production")
WORKLOADS = frozenset({("", "Pod"), ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
                       ("apps", "ReplicaSet"), ("batch", "Job"), ("batch", "CronJob"),
                       ("argoproj.io", "Rollout")})
APP_CODE = ("Dockerfile", "src", "go.mod", "package.json", "pyproject.toml")


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    file: str  # relative to the repository (or the target) where possible
    obj: str  # "Kind namespace/name", or the app
    message: str
    fix: str
    line: int | None = None
    doc: Obj | None = field(default=None, compare=False, repr=False)  # to find the line in `file`


@dataclass(frozen=True)
class AppInput:
    """One app as lint sees it: its Application, its rendered manifests, its project's sync windows."""

    app: App
    manifests: Sequence[Manifest]
    windows: Sequence[SyncWindow] = ()
    project_limits_destinations: bool = False  # the project names destinations narrower than everything
    dest_server: str = ""
    dest_name: str = ""
    app_dir_files: frozenset[str] = frozenset()  # names in the app's directory and the repository root
    production_words: tuple[str, ...] = DEFAULT_PRODUCTION


Rule = Callable[[AppInput], Iterator[Finding]]


def _where(m: Manifest) -> str:
    k = key_of(m.obj)
    ns = f"{k.namespace}/" if k.namespace else ""
    return f"{k.kind} {ns}{k.name}"


def _finding(rule: str, severity: Severity, m: Manifest, message: str, fix: str) -> Finding:
    return Finding(rule, severity, m.origin, _where(m), message, fix, doc=m.obj)


def _app_finding(rule: str, severity: Severity, a: AppInput, message: str, fix: str) -> Finding:
    return Finding(rule, severity, a.app.origin, f"Application {a.app.name}", message, fix,
                   doc=a.app.manifest)


# -- Secrets ----------------------------------------------------------------------------------------

def secret_in_git(a: AppInput) -> Iterator[Finding]:
    for m in a.manifests:
        o = m.obj
        if o.get("kind") != "Secret" or "/" in str(o.get("apiVersion", "v1")) or "sops" in o:
            continue  # a SOPS-encrypted Secret carries its `sops` metadata: fine in Git
        keys = len(o.get("data") or {}) + len(o.get("stringData") or {})
        if keys:
            yield _finding("secret-in-git", Severity.ERROR, m, f"Secret holds {keys} value(s) in plain Git",
                           "keep it out of Git: use a SealedSecret, an ExternalSecret or a SOPS-encrypted file")


# -- images ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageRef:
    name: str
    tag: str
    digest: str


def parse_image(image: str) -> ImageRef:
    """`registry:5000/team/app:1.2@sha256:…` → name, tag, digest (a port is not a tag)."""
    rest, _, digest = image.partition("@")
    last = rest.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    name = rest[: len(rest) - len(tag) - 1] if tag else rest
    return ImageRef(name, tag, digest)


def _containers(m: Manifest) -> Iterator[Obj]:
    k = key_of(m.obj)
    if (k.group, k.kind) not in WORKLOADS:
        return
    for pod in pod_specs(m.obj):
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if isinstance(c, dict):
                yield c


def image_tags(a: AppInput) -> Iterator[Finding]:
    for m in a.manifests:
        for c in _containers(m):
            image = c.get("image")
            if not isinstance(image, str):
                continue
            ref = parse_image(image)
            if not ref.digest and ref.tag in ("", "latest"):
                what = "has no tag" if not ref.tag else "uses the tag latest"
                yield _finding("image-latest", Severity.ERROR, m, f"container {c.get('name')}: image {image} {what}",
                               "pin a specific version tag, or a digest (@sha256:…)")
            elif not ref.digest and c.get("imagePullPolicy") == "Always":
                yield _finding("pull-always-mutable-tag", Severity.WARNING, m,
                               f"container {c.get('name')}: imagePullPolicy Always with the mutable tag {ref.tag}",
                               "pin the image by digest so every node runs the same build, or drop Always")


def resources_set(a: AppInput) -> Iterator[Finding]:
    for m in a.manifests:
        for c in _containers(m):
            res = c.get("resources") or {}
            missing = [k for k in ("requests", "limits") if not res.get(k)]
            if missing:
                yield _finding("no-resources", Severity.WARNING, m,
                               f"container {c.get('name')} sets no resource {' or '.join(missing)}",
                               "set resources.requests (and limits) so the scheduler can place it safely")


# -- production -----------------------------------------------------------------------------------

def is_production(a: AppInput) -> bool:
    words = {w.lower() for w in a.production_words}
    parts = [a.app.name, a.app.dest_namespace, a.dest_server, a.dest_name, *PurePosixPath(a.app.source.path).parts]
    return any(tok in words for p in parts for tok in re.split(r"[^a-z0-9]+", p.lower()) if tok)


def production_windows(a: AppInput) -> Iterator[Finding]:
    if not is_production(a):
        return
    ns = a.app.dest_namespace
    applying = [w for w in a.windows if w.applies_to(a.app.name, ns, a.dest_server, a.dest_name)]
    if not applying:
        yield _app_finding("prod-without-sync-window", Severity.WARNING, a,
                           f"production app {a.app.name} has no sync window in project {a.app.project}",
                           "add spec.syncWindows to its AppProject (e.g. a deny window for busy hours)")
    elif a.app.automated and not any(w.kind == "deny" for w in applying):
        yield _app_finding("prod-automated-without-deny-window", Severity.WARNING, a,
                           f"production app {a.app.name} syncs automatically with no deny window",
                           "add a deny sync window to its AppProject so automated syncs pause when they must")


def single_replica(a: AppInput) -> Iterator[Finding]:
    if not is_production(a):
        return
    for m in a.manifests:
        if key_of(m.obj).kind == "Deployment" and (m.obj.get("spec") or {}).get("replicas", 1) == 1:
            yield _finding("prod-single-replica", Severity.WARNING, m, "production Deployment runs one replica",
                           "run at least 2 replicas (and a PodDisruptionBudget) in production")


# -- sync policy ----------------------------------------------------------------------------------

def automated_policy(a: AppInput) -> Iterator[Finding]:
    if not a.app.automated:
        return
    if not a.app.self_heal:
        yield _app_finding("automated-without-self-heal", Severity.WARNING, a,
                           f"app {a.app.name} syncs automatically but does not self-heal: drift stays",
                           "set spec.syncPolicy.automated.selfHeal: true (or find out why it drifts)")
    if a.app.auto_prune and not a.project_limits_destinations:
        yield _app_finding("prune-without-destination-limits", Severity.WARNING, a,
                           f"app {a.app.name} prunes automatically in project {a.app.project}, which permits "
                           "every destination", "give the app a project whose spec.destinations name the "
                           "clusters and namespaces it may touch")


def app_code(a: AppInput) -> Iterator[Finding]:
    found = sorted(set(APP_CODE) & a.app_dir_files)
    if found:
        yield _app_finding("app-code-in-config-repo", Severity.WARNING, a,
                           f"the config repository also holds application code ({', '.join(found)})",
                           "keep manifests in a config repository of their own; CI updates it with new tags")


RULES: dict[str, Rule] = {
    "secret-in-git": secret_in_git, "image-latest": image_tags, "no-resources": resources_set,
    "prod-without-sync-window": production_windows, "prod-single-replica": single_replica,
    "automated-without-self-heal": automated_policy, "app-code-in-config-repo": app_code,
}
# Every rule id a finding can carry (some functions report more than one), with its default severity.
RULE_IDS: dict[str, Severity] = {
    "invalid-manifest": Severity.ERROR, "render-failed": Severity.ERROR, "secret-in-git": Severity.ERROR,
    "image-latest": Severity.ERROR,
    "pull-always-mutable-tag": Severity.WARNING, "no-resources": Severity.WARNING,
    "prod-without-sync-window": Severity.WARNING, "prod-automated-without-deny-window": Severity.WARNING,
    "prod-single-replica": Severity.WARNING, "automated-without-self-heal": Severity.WARNING,
    "prune-without-destination-limits": Severity.WARNING, "app-code-in-config-repo": Severity.WARNING,
}


def disabled_by_annotation(doc: Obj | None) -> frozenset[str]:
    raw = annotations_of(doc or {}).get(ANN_LINT_DISABLE, "")
    return frozenset(r.strip() for r in str(raw).split(",") if r.strip())


def check_app(a: AppInput) -> list[Finding]:
    """Every rule on one app, less what the app or the object itself disables."""
    app_off = disabled_by_annotation(a.app.manifest)
    out: list[Finding] = []
    for rule in RULES.values():
        for f in rule(a):
            off = app_off | disabled_by_annotation(f.doc)
            if f.rule not in off and "all" not in off:
                out.append(f)
    return out
