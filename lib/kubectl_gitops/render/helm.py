"""Helm charts via `helm template`, as Argo CD renders them (it never installs).

A Helm source is `source.chart` (a chart in the Helm repository `repoURL`: https://, http:// or oci://)
or a `path` whose directory has a Chart.yaml. Values, lowest precedence first: the chart's values.yaml,
`valueFiles` (relative to the chart, `$<ref>/…` from a multi-source ref, globs expanded in lexical
order), `values`, `valuesObject`, then `parameters` and `fileParameters`. The release is named after the
app unless `releaseName` says otherwise; the destination namespace and the live cluster's version and
API versions are passed on, as Argo CD does. The render is cached by the chart's content (its git id,
a digest of its files, or its repository, name and exact version), every value input, the options, the
cluster's versions and helm's identity.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubectl_gitops import yamlio
from kubectl_gitops.appsource import Helm
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import paths
from kubectl_gitops.render.helmchart import (
    EXACT_VERSION,
    HelmHome,
    Repo,
    built_dependencies,
    cached_chart,
    chart_key,
    dependencies,
    deps_digest,
    dir_digest,
    helm_home,
    local_dependency_dirs,
    missing,
    pulled_chart,
)
from kubectl_gitops.render.manifest import Manifest, objects
from kubectl_gitops.render.run import identity, tool
from kubectl_gitops.trees import Tree

if TYPE_CHECKING:
    from kubectl_gitops.render import Request

INSTALL = "install Helm 3 (https://helm.sh/docs/intro/install/) and put `helm` on PATH"
GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputFile:
    path: Path
    digest: str  # a git id, a content digest, or the pulled chart's key


class HelmRenderer:
    name = "helm"

    def claims(self, req: Request) -> bool:
        return bool(req.source.chart) or (req.tree is not None and (req.app_dir / "Chart.yaml").is_file())

    def cache_key(self, req: Request) -> list[str] | None:
        h = req.source.helm or Helm()
        if req.source.chart:
            repo = Repo.parse(req.source.repo_url)
            version = req.source.target_revision
            chart_dir = cached_chart(chart_key(repo, req.source.chart, version), req.source.chart)
            if not EXACT_VERSION.match(version) or chart_dir is None:
                return None  # a version range, or not pulled yet: pulled (and cached) by the render
            chart = chart_key(repo, req.source.chart, version)
        else:
            assert req.tree is not None
            chart_dir = req.app_dir.resolve()
            chart = req.tree.subtree_id(req.path) or dir_digest(chart_dir)
            deps = dependencies(chart_dir, req.label)
            chart += "".join(dir_digest(d) for d in local_dependency_dirs(req.tree, chart_dir, deps, req.label))
        inputs = [f.digest for f in (*value_files(req, chart_dir, h),
                                     *(f for _, f in file_parameters(req, chart_dir, h)))]
        target = req.target() if not (h.kube_version and h.api_versions) else None
        return [identity("helm"), chart, *inputs, repr(h), req.app_name, req.namespace,
                h.kube_version or (target.kube_version if target else ""),
                *(h.api_versions or (target.api_versions if target else ()))]

    def render(self, req: Request) -> list[Manifest]:
        h = req.source.helm or Helm()
        helm = tool("helm", req.label, INSTALL)
        with helm_home(helm, req.label, req.timeout, h.pass_credentials) as home:
            chart_dir, origin = _chart(req, home)
            work = _with_dependencies(req, home, chart_dir)
            out = home.helm_run(*template_args(req, h, home, chart_dir, work), what="helm template")
        return split_output(out, origin)


def _chart(req: Request, home: HelmHome) -> tuple[Path, str]:
    """The chart's directory and how messages name it."""
    s = req.source
    if s.chart:
        repo = Repo.parse(s.repo_url, req.repo_secrets)
        if not repo.url.startswith(("https://", "http://", "oci://")):
            raise GitopsError(f"{req.label}: source.repoURL {repo.url!r} is not a Helm repository URL "
                              "(https://, http:// or oci://)")
        return pulled_chart(home, repo, s.chart, s.target_revision), f"{repo.url} {s.chart}@{s.target_revision}"
    assert req.tree is not None
    chart_dir = req.app_dir.resolve()  # confined by render(), symlinks below it too
    return chart_dir, req.tree.display(chart_dir)


def _with_dependencies(req: Request, home: HelmHome, chart_dir: Path) -> Path:
    """The chart itself, or a copy with the dependencies it lacks in charts/ (never the user's files)."""
    deps = dependencies(chart_dir, req.label)
    if not deps or not missing(chart_dir, deps):
        return chart_dir
    local = local_dependency_dirs(req.tree, chart_dir, deps, req.label)
    built = built_dependencies(home, req.tree, chart_dir, deps, deps_digest(chart_dir, deps, local), req.repo_secrets)
    work = home.dir / "chart" / chart_dir.name
    shutil.copytree(chart_dir, work, symlinks=False)
    (work / "charts").mkdir(exist_ok=True)
    for f in built.iterdir():
        shutil.copy2(f, work / "charts" / f.name)
    return work


def template_args(req: Request, h: Helm, home: HelmHome, chart_dir: Path, work: Path) -> list[str]:
    args = ["template", h.release_name or req.app_name, str(work)]
    namespace = h.namespace or req.namespace
    if namespace:
        args += ["--namespace", namespace]
    kube_version, api_versions = h.kube_version, h.api_versions
    if not (kube_version and api_versions):
        target = req.target()
        kube_version = kube_version or target.kube_version
        api_versions = api_versions or target.api_versions
    if kube_version:
        args += ["--kube-version", kube_version]
    for v in api_versions:
        args += ["--api-versions", v]
    for f in value_files(req, chart_dir, h):
        args += ["--values", str(f.path)]
    for name, text in (("values", h.values), ("values-object", h.values_object)):
        if text:
            (home.dir / f"{name}.yaml").write_text(text)
            args += ["--values", str(home.dir / f"{name}.yaml")]
    for p in h.parameters:
        args += ["--set-string" if p.force_string else "--set", f"{p.name}={p.value}"]
    for name, f in file_parameters(req, chart_dir, h):
        args += ["--set-file", f"{name}={f.path}"]
    if not h.skip_crds:
        args.append("--include-crds")
    if h.skip_tests:
        args.append("--skip-tests")
    if h.skip_schema_validation:
        args.append("--skip-schema-validation")
    return args


def value_files(req: Request, chart_dir: Path | None, h: Helm) -> list[InputFile]:
    out: list[InputFile] = []
    for raw in h.value_files:
        out.extend(_resolve(req, chart_dir, raw, "value file", h.ignore_missing_value_files))
    return out


def file_parameters(req: Request, chart_dir: Path | None, h: Helm) -> list[tuple[str, InputFile]]:
    out = []
    for name, raw in h.file_parameters:
        found = _resolve(req, chart_dir, raw, f"fileParameter {name}", False)
        out.append((name, found[0]))
    return out


def _resolve(req: Request, chart_dir: Path | None, raw: str, what: str, ignore_missing: bool) -> list[InputFile]:
    """A value file named as Argo CD names them: relative to the chart, `/…` from the repository root,
    `$<ref>/…` in a ref source's repository. Each stays inside its repository."""
    if re.match(r"^[a-z]+://", raw):
        raise GitopsError(f"{req.label}: {what} {raw!r}: only files in the repository are read, not URLs")
    tree: Tree | None = req.tree
    if raw.startswith("$"):
        ref, _, rest = raw[1:].partition("/")
        if ref not in req.refs:
            raise GitopsError(f"{req.label}: {what} {raw!r}: no source has ref {ref!r}")
        tree, base, raw = req.refs[ref], req.refs[ref].root, rest
    elif raw.startswith("/") and tree is not None:
        base, raw = tree.root, raw.lstrip("/")
    elif chart_dir is not None:
        base = chart_dir
    else:
        raise GitopsError(f"{req.label}: {what} {raw!r} needs the chart, which is not pulled yet")
    if tree is not None:  # before looking for it: a path outside is refused even if nothing is there
        paths.confine(tree, base / raw, what, req.label, shown=raw)
    candidates = sorted(base.glob(raw)) if GLOB.search(raw) else [base / raw]
    found = [p for p in candidates if p.is_file()]
    if not found:
        if ignore_missing:
            return []
        raise GitopsError(f"{req.label}: {what} {raw!r} does not exist"
                          + (" (set helm.ignoreMissingValueFiles to skip it)" if "value" in what else ""))
    out = []
    for p in found:
        if tree is not None:
            real = paths.confine(tree, p, what, req.label)
            rel = real.relative_to(tree.root.resolve()).as_posix()
            digest = tree.subtree_id(rel) or hashlib.sha256(real.read_bytes()).hexdigest()
        else:  # inside a pulled chart: its version names its content
            real, digest = p.resolve(), f"chart:{p.relative_to(base).as_posix()}"
        out.append(InputFile(real, digest))
    return out


def split_output(out: str, origin: str) -> list[Manifest]:
    """helm's stream, each document named after the template it came from (`# Source:`)."""
    manifests: list[Manifest] = []
    for chunk in re.split(r"(?m)^---\s*$", out):
        m = re.search(r"(?m)^# Source: [^/\n]+/(.+)$", chunk)
        where = f"{origin}/{m.group(1)}" if m else origin
        manifests.extend(Manifest(o, where) for o in objects(yamlio.load_all(chunk, where), where))
    return manifests
