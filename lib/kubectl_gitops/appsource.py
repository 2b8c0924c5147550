"""An Application's `spec.source` (or each of `spec.sources`), read into dataclasses.

schema.py has checked every field's type by then; what is left here are the rules between fields, and
`plugin`, refused by name: config management plugins run inside Argo CD's repo server, and there is no
local plugin runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj


@dataclass(frozen=True)
class Var:
    """A Jsonnet external variable or top-level argument; `code` means the value is Jsonnet."""

    name: str
    value: str
    code: bool = False


@dataclass(frozen=True)
class Jsonnet:
    ext_vars: tuple[Var, ...] = ()
    tlas: tuple[Var, ...] = ()
    libs: tuple[str, ...] = ()  # directories relative to the repository root


@dataclass(frozen=True)
class Directory:
    recurse: bool = False
    include: str = ""
    exclude: str = ""
    jsonnet: Jsonnet = field(default_factory=Jsonnet)


@dataclass(frozen=True)
class HelmParameter:
    name: str
    value: str
    force_string: bool = False


@dataclass(frozen=True)
class Helm:
    release_name: str = ""
    value_files: tuple[str, ...] = ()
    ignore_missing_value_files: bool = False
    values: str = ""
    values_object: str = ""  # as JSON, so the dataclass stays a value
    parameters: tuple[HelmParameter, ...] = ()
    file_parameters: tuple[tuple[str, str], ...] = ()  # (name, path)
    skip_crds: bool = False
    skip_schema_validation: bool = False
    skip_tests: bool = False
    pass_credentials: bool = False
    version: str = ""
    namespace: str = ""
    kube_version: str = ""
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kustomize:
    images: tuple[str, ...] = ()
    name_prefix: str = ""
    name_suffix: str = ""
    common_labels: tuple[tuple[str, str], ...] = ()
    common_annotations: tuple[tuple[str, str], ...] = ()
    common_annotations_envsubst: bool = False
    force_common_labels: bool = False
    force_common_annotations: bool = False
    namespace: str = ""
    replicas: tuple[tuple[str, int], ...] = ()
    patches: str = ""  # the patch list as JSON
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    label_without_selector: bool = False
    label_include_templates: bool = False
    kube_version: str = ""
    api_versions: tuple[str, ...] = ()
    version: str = ""


@dataclass(frozen=True)
class Source:
    repo_url: str
    path: str
    target_revision: str = "HEAD"
    directory: Directory = field(default_factory=Directory)
    chart: str = ""  # a chart in a Helm repository (repoURL is that repository)
    ref: str = ""  # multi-source: other sources name this one's tree as `$<ref>/…`
    name: str = ""
    helm: Helm | None = None
    kustomize: Kustomize | None = None

    @property
    def renders(self) -> bool:
        """A `ref` source without a path only lends its files to others."""
        return bool(self.chart or self.path or not self.ref)


def parse_source(m: Obj, where: str, field_name: str) -> Source:
    """One source of an Application that schema.check_argo_document has checked: every field has its type."""
    if m.get("plugin") is not None:
        raise GitopsError(f"{where}: {field_name}.plugin: config management plugins are not supported",
                          hint="render the manifests into Git, or use a directory, Kustomize or Helm source")
    types = [k for k in ("directory", "helm", "kustomize") if m.get(k)]  # `{}` sets nothing
    if len(types) > 1:
        raise GitopsError(f"{where}: {field_name} sets {' and '.join(types)}: a source has one type")
    chart, ref = m.get("chart") or "", m.get("ref") or ""
    if not chart and "path" not in m and not ref:
        raise GitopsError(f"{where}: {field_name}.path (or chart) is required")
    path = (m.get("path") or "").strip("/")
    return Source(
        repo_url=m.get("repoURL") or "",
        path=path or ("" if chart or (ref and "path" not in m) else "."),
        target_revision=m.get("targetRevision") or ("" if chart else "HEAD"),
        directory=_directory(m.get("directory") or {}, where, f"{field_name}.directory"),
        chart=chart, ref=ref, name=m.get("name") or "",
        helm=_helm(m["helm"], where, f"{field_name}.helm") if m.get("helm") else None,
        kustomize=_kustomize(m["kustomize"], where, f"{field_name}.kustomize") if m.get("kustomize") else None,
    )


def _directory(m: Obj, where: str, f: str) -> Directory:
    j = m.get("jsonnet") or {}
    return Directory(recurse=bool(m.get("recurse")), include=m.get("include") or "", exclude=m.get("exclude") or "",
                     jsonnet=Jsonnet(ext_vars=_vars(j.get("extVars"), where, f"{f}.jsonnet.extVars"),
                                     tlas=_vars(j.get("tlas"), where, f"{f}.jsonnet.tlas"),
                                     libs=tuple(j.get("libs") or ())))


def _vars(items: list[Obj] | None, where: str, f: str) -> tuple[Var, ...]:
    for i, v in enumerate(items or ()):
        if not v.get("name"):
            raise GitopsError(f"{where}: {f}[{i}].name is required")
    return tuple(Var(v["name"], v.get("value") or "", bool(v.get("code"))) for v in items or ())


def _helm(m: Obj, where: str, f: str) -> Helm:
    for i, p in enumerate(m.get("parameters") or ()):
        if not p.get("name"):
            raise GitopsError(f"{where}: {f}.parameters[{i}].name is required")
    for i, p in enumerate(m.get("fileParameters") or ()):
        if not p.get("name") or not p.get("path"):
            raise GitopsError(f"{where}: {f}.fileParameters[{i}] needs a name and a path")
    obj = m.get("valuesObject")
    if obj is not None and not isinstance(obj, dict):
        raise GitopsError(f"{where}: {f}.valuesObject must be a mapping")
    version = m.get("version") or ""
    if version and version.lower() != "v3":
        raise GitopsError(f"{where}: {f}.version {version!r}: only Helm 3 (v3) is supported")
    return Helm(
        release_name=m.get("releaseName") or "", value_files=tuple(m.get("valueFiles") or ()),
        ignore_missing_value_files=bool(m.get("ignoreMissingValueFiles")), values=m.get("values") or "",
        values_object=orjson.dumps(obj).decode() if obj else "",
        parameters=tuple(HelmParameter(p["name"], p.get("value") or "", bool(p.get("forceString")))
                         for p in m.get("parameters") or ()),
        file_parameters=tuple((p["name"], p["path"]) for p in m.get("fileParameters") or ()),
        skip_crds=bool(m.get("skipCrds")), skip_schema_validation=bool(m.get("skipSchemaValidation")),
        skip_tests=bool(m.get("skipTests")), pass_credentials=bool(m.get("passCredentials")), version=version,
        namespace=m.get("namespace") or "", kube_version=m.get("kubeVersion") or "",
        api_versions=tuple(m.get("apiVersions") or ()))


def _kustomize(m: Obj, where: str, f: str) -> Kustomize:
    replicas = []
    for i, r in enumerate(m.get("replicas") or ()):
        try:
            replicas.append((str(r["name"]), int(r["count"])))
        except (KeyError, TypeError, ValueError):
            raise GitopsError(f"{where}: {f}.replicas[{i}] needs a name and an integer count") from None
    patches = m.get("patches") or []
    return Kustomize(
        images=tuple(m.get("images") or ()), name_prefix=m.get("namePrefix") or "",
        name_suffix=m.get("nameSuffix") or "",
        common_labels=tuple((m.get("commonLabels") or {}).items()),
        common_annotations=tuple((m.get("commonAnnotations") or {}).items()),
        common_annotations_envsubst=bool(m.get("commonAnnotationsEnvsubst")),
        force_common_labels=bool(m.get("forceCommonLabels")),
        force_common_annotations=bool(m.get("forceCommonAnnotations")),
        namespace=m.get("namespace") or "", replicas=tuple(replicas),
        patches=orjson.dumps(patches).decode() if patches else "",
        components=tuple(m.get("components") or ()),
        ignore_missing_components=bool(m.get("ignoreMissingComponents")),
        label_without_selector=bool(m.get("labelWithoutSelector")),
        label_include_templates=bool(m.get("labelIncludeTemplates")),
        kube_version=m.get("kubeVersion") or "", api_versions=tuple(m.get("apiVersions") or ()),
        version=m.get("version") or "")
