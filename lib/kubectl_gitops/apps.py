"""Argo CD Application/AppProject manifests, read as-is, and what a TARGET argument names."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_gitops import schema, yamlio
from kubectl_gitops.appsource import Source, parse_source
from kubectl_gitops.destinations import one_of
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.goduration import parse_go_duration
from kubectl_gitops.model import ARGO_GROUP, Manifest, Obj, group_of, sync_wave

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
Display = Callable[[Path], str]  # how a file is named in messages


@dataclass(frozen=True)
class IgnoreRule:
    group: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retry:
    """syncPolicy.retry: a failed automated sync is tried again `limit` times (< 0: without end),
    waiting duration × factor^n, at most max_duration seconds."""

    limit: int = 0
    duration: float = 5.0
    factor: float = 2.0
    max_duration: float = 180.0

    def delay(self, attempt: int) -> float:
        return min(self.max_duration, self.duration * self.factor ** attempt)


@dataclass(frozen=True)
class App:
    """One Application: where its manifests come from and where they go."""

    name: str
    source: Source  # the first of `sources`
    dest_namespace: str = ""
    dest_server: str = ""  # spec.destination.server / .name: resolved to a cluster by destinations.py
    dest_name: str = ""
    project: str = "default"
    sync_options: tuple[str, ...] = ()
    automated: bool = False
    auto_prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    retry: Retry | None = None
    ignore_differences: tuple[IgnoreRule, ...] = ()
    managed_namespace_metadata: Obj | None = None
    wave: int = 0
    origin: str = ""  # file the Application came from, for messages
    manifest: Obj | None = None  # the Application object itself (None for a plain directory)
    extra_sources: tuple[Source, ...] = ()  # spec.sources after the first

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source, *self.extra_sources)

    @property
    def is_plain_dir(self) -> bool:
        return self.manifest is None


def is_application(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("kind") == "Application"
            and group_of(obj.get("apiVersion", "")) == ARGO_GROUP)


def is_app_project(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("kind") == "AppProject"
            and group_of(str(obj.get("apiVersion", ""))) == ARGO_GROUP)


def parse_application(obj: Obj, origin: str) -> App:
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
    where = f"{origin}: Application {name or '?'}"
    schema.check_argo_document(obj, where)  # from here on, every field has its type
    if not name:
        raise GitopsError(f"{origin}: Application without metadata.name")
    spec = obj.get("spec") or {}
    dest = spec.get("destination") or {}
    one_of(name, dest.get("server") or "", dest.get("name") or "")  # refused when read, as Argo CD does
    sources = _sources(spec, where)
    policy = spec.get("syncPolicy") or {}
    auto = policy.get("automated")
    return App(
        name=name,
        source=sources[0], extra_sources=sources[1:],
        dest_namespace=dest.get("namespace") or "",
        dest_server=dest.get("server") or "",
        dest_name=dest.get("name") or "",
        project=spec.get("project") or "default",
        sync_options=tuple(policy.get("syncOptions") or ()),
        automated=auto is not None and (auto or {}).get("enabled") is not False,  # Argo CD 3: enabled: false
        auto_prune=bool((auto or {}).get("prune")),
        self_heal=bool((auto or {}).get("selfHeal")),
        allow_empty=bool((auto or {}).get("allowEmpty")),
        retry=parse_retry(policy.get("retry"), where),
        ignore_differences=tuple(parse_ignore_rule(r, where) for r in spec.get("ignoreDifferences") or ()),
        managed_namespace_metadata=policy.get("managedNamespaceMetadata"),
        wave=sync_wave(obj, where),
        origin=origin,
        manifest=obj,
    )


def _sources(spec: Obj, where: str) -> tuple[Source, ...]:
    """spec.sources wins over spec.source, as in Argo CD."""
    many = spec.get("sources")
    if many:
        if not isinstance(many, list):
            raise GitopsError(f"{where}: spec.sources must be a list")
        out = tuple(parse_source(s, where, f"spec.sources[{i}]") for i, s in enumerate(many))
        refs = [s.ref for s in out if s.ref]
        if len(refs) != len(set(refs)):
            raise GitopsError(f"{where}: spec.sources: ref {next(r for r in refs if refs.count(r) > 1)!r} "
                              "is used twice")
        return out
    if spec.get("source") is None:
        raise GitopsError(f"{where}: spec.source is required")
    return (parse_source(spec["source"], where, "spec.source"),)


def parse_ignore_rule(r: Any, where: str) -> IgnoreRule:
    """One ignoreDifferences entry (of an Application, or an argocd-cm key's)."""
    if r is None or not isinstance(r, dict):
        raise GitopsError(f"{where}: ignoreDifferences entries must be mappings")
    schema.check(r, schema.IGNORE_RULE, where)
    return IgnoreRule(
        group=r.get("group") or "", kind=r.get("kind") or "", name=r.get("name") or "",
        namespace=r.get("namespace") or "",
        json_pointers=tuple(r.get("jsonPointers") or ()),
        jq_path_expressions=tuple(r.get("jqPathExpressions") or ()),
        managed_fields_managers=tuple(r.get("managedFieldsManagers") or ()),
    )


def parse_retry(r: object, where: str) -> Retry | None:
    """syncPolicy.retry with Argo CD's defaults (backoff 5s, factor 2, maxDuration 3m)."""
    if r is None:
        return None
    if not isinstance(r, dict) or not isinstance(r.get("backoff") or {}, dict):
        raise GitopsError(f"{where}: spec.syncPolicy.retry must be a mapping with limit and backoff")
    b = r.get("backoff") or {}
    try:
        return Retry(limit=int(r.get("limit", 0)),
                     duration=parse_go_duration(str(b.get("duration") or "5s")) / 1e9,
                     factor=float(b.get("factor") or 2),
                     max_duration=parse_go_duration(str(b.get("maxDuration") or "3m")) / 1e9)
    except (TypeError, ValueError) as e:
        raise GitopsError(f"{where}: spec.syncPolicy.retry: {e}") from None


def plain_dir_app(path: Path, name: str) -> App:
    """A directory of manifests (or a kustomization) with no Application: an app named after it."""
    return App(name=name, source=Source(repo_url="", path=str(path)), origin=str(path))


def applications_in_file(path: Path, display: Display = str) -> list[App]:
    if path.suffix not in MANIFEST_SUFFIXES:
        return []
    where = display(path)
    docs = yamlio.load_documents(path.read_bytes(), where, is_json=path.suffix == ".json")
    return [parse_application(d, where) for d in docs if is_application(d)]


def app_projects_in(path: Path, display: Display = str) -> list[Manifest]:
    """The AppProject documents of a file, or of the files directly in a directory."""
    if not path.exists():
        raise GitopsError(f"{display(path)}: no such file or directory")
    files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
    return [Manifest(d, display(f)) for f in files if f.suffix in MANIFEST_SUFFIXES
            for d in yamlio.load_all(f.read_bytes(), display(f))
            if is_app_project(d)]


def applications_in_dir(path: Path, display: Display = str) -> list[App]:
    apps: list[App] = []
    for f in sorted(path.iterdir()):
        if f.is_file():
            apps.extend(applications_in_file(f, display))
    return apps


def resolve_target(target: str, search_dirs: tuple[Path, ...] = (Path("apps"),),
                   display: Display = str, path: str | None = None) -> tuple[list[App], Path]:
    """What TARGET names → (apps, the path they were found at).

    A file of Applications, a directory of Application files, a directory of manifests or a
    Kustomize directory (one app named after the directory), or the name of an app in `apps/`.
    A bare name that is both a directory and an app is refused: taking either silently could send
    the manifests to the wrong cluster. `path` is where TARGET is read when it is not `target`
    itself (with --revision, that revision's copy); `display` names files in messages (a revision's
    files by their path in the repository).
    """
    p = Path(target if path is None else path)
    if p.is_file():
        apps = applications_in_file(p, display)
        if not apps:
            raise GitopsError(f"{display(p)}: no argoproj.io Application in this file",
                              hint="pass a directory to diff plain manifests")
        return apps, p
    if p.is_dir():
        refuse_clash(target, p, search_dirs, display)
        # Plain manifests first: that usually reads one file, where looking for Applications reads all.
        apps = [] if has_plain_manifests(p, display) else applications_in_dir(p, display)
        return (apps or [plain_dir_app(p, _dir_app_name(p))]), p
    found = app_named(target, search_dirs, display)
    if found:
        return found
    raise GitopsError(f"{target}: no such file, directory or application",
                      hint="TARGET is a manifest directory, an Application file or directory, or an app "
                           "name found in ./apps")


def app_named(name: str, search_dirs: tuple[Path, ...] = (Path("apps"),),
              display: Display = str) -> tuple[list[App], Path] | None:
    """The Applications called `name` in the first search directory that has any, and that directory."""
    for d in search_dirs:
        if d.is_dir():
            named = [a for a in applications_in_dir(d, display) if a.name == name]
            if named:
                return named, d
    return None


def refuse_clash(target: str, at: Path, search_dirs: tuple[Path, ...], display: Display = str) -> None:
    """A bare name (no path separator) of a directory here (read at `at`) that names an app in `apps/` too.

    `apps` itself is let through: the directory and an app of that name in it are Applications either
    way, each sent to its own destination, and checking would read ./apps twice for the commonest TARGET."""
    if "/" in target or os.sep in target or (os.altsep and os.altsep in target) or target in (".", ".."):
        return
    if any(at.resolve() == d.resolve() for d in search_dirs):
        return
    found = app_named(target, search_dirs, display)
    if found:
        files = sorted({a.origin for a in found[0]})
        raise GitopsError(
            f"{target}: names both the directory ./{target} and the Application {target} in "
            f"{', '.join(files)}", hint=f"pass ./{target} for the directory, or {files[0]} for the Application")


def has_plain_manifests(p: Path, display: Display) -> bool:
    """A directory holding more than Applications (and AppProjects) is an app itself."""
    if any((p / k).exists() for k in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
        return True
    for f in p.iterdir():
        if f.is_file() and f.suffix in MANIFEST_SUFFIXES:
            for d in yamlio.load_documents(f.read_bytes(), display(f), is_json=f.suffix == ".json"):
                if isinstance(d, dict) and not is_application(d) and d.get("kind") != "AppProject":
                    return True
    return False


def _dir_app_name(p: Path) -> str:
    name = p.resolve().name
    if name in ("dev", "staging", "prod", "base") and p.resolve().parent.name == "overlays":
        return f"{p.resolve().parent.parent.name}-{name}"
    return name or "app"
