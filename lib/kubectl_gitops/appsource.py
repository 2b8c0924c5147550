"""An Application's `spec.source` (or each of `spec.sources`), parsed field by field.

Every field Argo CD defines for a source is read into these dataclasses or refused by name: an unknown
key, a wrong type, or `plugin` (config management plugins run inside Argo CD's repo server; there is
no local plugin runner) stops with exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    label_without_selector: bool = False
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


SOURCE_KEYS = {"repoURL", "path", "targetRevision", "chart", "ref", "name", "directory", "helm", "kustomize",
               "plugin"}


def parse_source(src: Any, where: str, field_name: str) -> Source:
    m = _mapping(src, where, field_name)
    _known(m, SOURCE_KEYS, where, field_name)
    if m.get("plugin") is not None:
        raise GitopsError(f"{where}: {field_name}.plugin: config management plugins are not supported",
                          hint="render the manifests into Git, or use a directory, Kustomize or Helm source")
    types = [k for k in ("directory", "helm", "kustomize") if m.get(k) is not None]
    if len(types) > 1:
        raise GitopsError(f"{where}: {field_name} sets {' and '.join(types)}: a source has one type")
    chart = _str(m, "chart", where, field_name)
    path = _str(m, "path", where, field_name).strip("/")
    ref = _str(m, "ref", where, field_name)
    if not chart and "path" not in m and not ref:
        raise GitopsError(f"{where}: {field_name}.path (or chart) is required")
    return Source(
        repo_url=_str(m, "repoURL", where, field_name),
        path=path or ("" if chart or (ref and "path" not in m) else "."),
        target_revision=_str(m, "targetRevision", where, field_name) or ("" if chart else "HEAD"),
        directory=_directory(m.get("directory"), where, f"{field_name}.directory"),
        chart=chart, ref=ref, name=_str(m, "name", where, field_name),
        helm=_helm(m["helm"], where, f"{field_name}.helm") if m.get("helm") is not None else None,
        kustomize=(_kustomize(m["kustomize"], where, f"{field_name}.kustomize")
                   if m.get("kustomize") is not None else None),
    )


def _directory(d: Any, where: str, f: str) -> Directory:
    if d is None:
        return Directory()
    m = _mapping(d, where, f)
    _known(m, {"recurse", "include", "exclude", "jsonnet"}, where, f)
    j = _mapping(m.get("jsonnet") or {}, where, f"{f}.jsonnet")
    _known(j, {"extVars", "tlas", "libs"}, where, f"{f}.jsonnet")
    return Directory(
        recurse=_bool(m, "recurse", where, f), include=_str(m, "include", where, f),
        exclude=_str(m, "exclude", where, f),
        jsonnet=Jsonnet(ext_vars=_vars(j.get("extVars"), where, f"{f}.jsonnet.extVars"),
                        tlas=_vars(j.get("tlas"), where, f"{f}.jsonnet.tlas"),
                        libs=_strs(j, "libs", where, f"{f}.jsonnet")))


def _vars(items: Any, where: str, f: str) -> tuple[Var, ...]:
    out = []
    for i, v in enumerate(_list(items, where, f)):
        m = _mapping(v, where, f"{f}[{i}]")
        _known(m, {"name", "value", "code"}, where, f"{f}[{i}]")
        if not m.get("name"):
            raise GitopsError(f"{where}: {f}[{i}].name is required")
        out.append(Var(_str(m, "name", where, f), _scalar(m.get("value"), where, f"{f}[{i}].value"),
                       _bool(m, "code", where, f"{f}[{i}]")))
    return tuple(out)


HELM_KEYS = {"releaseName", "valueFiles", "ignoreMissingValueFiles", "values", "valuesObject", "parameters",
             "fileParameters", "skipCrds", "skipSchemaValidation", "skipTests", "passCredentials", "version",
             "namespace", "kubeVersion", "apiVersions"}


def _helm(h: Any, where: str, f: str) -> Helm:
    m = _mapping(h, where, f)
    _known(m, HELM_KEYS, where, f)
    params = []
    for i, p in enumerate(_list(m.get("parameters"), where, f"{f}.parameters")):
        pm = _mapping(p, where, f"{f}.parameters[{i}]")
        _known(pm, {"name", "value", "forceString"}, where, f"{f}.parameters[{i}]")
        if not pm.get("name"):
            raise GitopsError(f"{where}: {f}.parameters[{i}].name is required")
        params.append(HelmParameter(str(pm["name"]), _scalar(pm.get("value"), where, f"{f}.parameters[{i}]"),
                                    _bool(pm, "forceString", where, f"{f}.parameters[{i}]")))
    file_params = []
    for i, p in enumerate(_list(m.get("fileParameters"), where, f"{f}.fileParameters")):
        pm = _mapping(p, where, f"{f}.fileParameters[{i}]")
        _known(pm, {"name", "path"}, where, f"{f}.fileParameters[{i}]")
        if not pm.get("name") or not pm.get("path"):
            raise GitopsError(f"{where}: {f}.fileParameters[{i}] needs name and path")
        file_params.append((str(pm["name"]), str(pm["path"])))
    values = m.get("values")
    if values is not None and not isinstance(values, (str, dict)):
        raise GitopsError(f"{where}: {f}.values must be a string of YAML")
    obj = m.get("valuesObject")
    if obj is not None and not isinstance(obj, dict):
        raise GitopsError(f"{where}: {f}.valuesObject must be a mapping")
    version = _str(m, "version", where, f)
    if version and version.lower() != "v3":
        raise GitopsError(f"{where}: {f}.version {version!r}: only Helm v3 is supported")
    return Helm(
        release_name=_str(m, "releaseName", where, f), value_files=_strs(m, "valueFiles", where, f),
        ignore_missing_value_files=_bool(m, "ignoreMissingValueFiles", where, f),
        values=values if isinstance(values, str) else orjson.dumps(values).decode() if values else "",
        values_object=orjson.dumps(obj).decode() if obj else "",
        parameters=tuple(params), file_parameters=tuple(file_params),
        skip_crds=_bool(m, "skipCrds", where, f), skip_schema_validation=_bool(m, "skipSchemaValidation", where, f),
        skip_tests=_bool(m, "skipTests", where, f), pass_credentials=_bool(m, "passCredentials", where, f),
        version=version, namespace=_str(m, "namespace", where, f), kube_version=_str(m, "kubeVersion", where, f),
        api_versions=_strs(m, "apiVersions", where, f))


KUSTOMIZE_KEYS = {"images", "namePrefix", "nameSuffix", "commonLabels", "commonAnnotations",
                  "commonAnnotationsEnvsubst", "forceCommonLabels", "forceCommonAnnotations", "namespace",
                  "replicas", "patches", "components", "labelWithoutSelector", "kubeVersion", "apiVersions",
                  "version"}


def _kustomize(k: Any, where: str, f: str) -> Kustomize:
    m = _mapping(k, where, f)
    _known(m, KUSTOMIZE_KEYS, where, f)
    replicas = []
    for i, r in enumerate(_list(m.get("replicas"), where, f"{f}.replicas")):
        rm = _mapping(r, where, f"{f}.replicas[{i}]")
        _known(rm, {"name", "count"}, where, f"{f}.replicas[{i}]")
        try:
            replicas.append((str(rm["name"]), int(rm["count"])))
        except (KeyError, TypeError, ValueError):
            raise GitopsError(f"{where}: {f}.replicas[{i}] needs a name and an integer count") from None
    patches = _list(m.get("patches"), where, f"{f}.patches")
    for i, p in enumerate(patches):
        _mapping(p, where, f"{f}.patches[{i}]")
    return Kustomize(
        images=_strs(m, "images", where, f), name_prefix=_str(m, "namePrefix", where, f),
        name_suffix=_str(m, "nameSuffix", where, f),
        common_labels=_pairs(m.get("commonLabels"), where, f"{f}.commonLabels"),
        common_annotations=_pairs(m.get("commonAnnotations"), where, f"{f}.commonAnnotations"),
        common_annotations_envsubst=_bool(m, "commonAnnotationsEnvsubst", where, f),
        force_common_labels=_bool(m, "forceCommonLabels", where, f),
        force_common_annotations=_bool(m, "forceCommonAnnotations", where, f),
        namespace=_str(m, "namespace", where, f), replicas=tuple(replicas),
        patches=orjson.dumps(patches).decode() if patches else "",
        components=_strs(m, "components", where, f),
        label_without_selector=_bool(m, "labelWithoutSelector", where, f),
        kube_version=_str(m, "kubeVersion", where, f), api_versions=_strs(m, "apiVersions", where, f),
        version=_str(m, "version", where, f))


# -- typed field readers: each names the field when its value is of the wrong type --------------------

def _mapping(v: Any, where: str, f: str) -> Obj:
    if not isinstance(v, dict):
        raise GitopsError(f"{where}: {f} must be a mapping")
    return v


def _list(v: Any, where: str, f: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise GitopsError(f"{where}: {f} must be a list")
    return v


def _known(m: Obj, keys: set[str], where: str, f: str) -> None:
    unknown = sorted(k for k in m if k not in keys)
    if unknown:
        raise GitopsError(f"{where}: {f}.{unknown[0]} is not a field Argo CD defines here",
                          hint=f"known fields: {', '.join(sorted(keys))}")


def _str(m: Obj, key: str, where: str, f: str) -> str:
    v = m.get(key)
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise GitopsError(f"{where}: {f}.{key} must be a string")
    return str(v)


def _scalar(v: Any, where: str, f: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if not isinstance(v, (str, int, float)):
        raise GitopsError(f"{where}: {f} must be a string")
    return str(v)


def _bool(m: Obj, key: str, where: str, f: str) -> bool:
    v = m.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise GitopsError(f"{where}: {f}.{key} must be true or false")
    return v


def _strs(m: Obj, key: str, where: str, f: str) -> tuple[str, ...]:
    items = _list(m.get(key), where, f"{f}.{key}")
    if not all(isinstance(x, str) for x in items):
        raise GitopsError(f"{where}: {f}.{key} must be a list of strings")
    return tuple(items)


def _pairs(v: Any, where: str, f: str) -> tuple[tuple[str, str], ...]:
    if v is None:
        return ()
    m = _mapping(v, where, f)
    return tuple((str(k), _scalar(x, where, f"{f}.{k}")) for k, x in m.items())
