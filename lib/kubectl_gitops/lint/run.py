"""Lint a target offline: find its apps (App of Apps followed), render each as diff would, check the
rules, and collect every problem instead of stopping at the first. Reads Git and renders (the I/O of
this stage); no cluster."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from kubectl_gitops import yamlio
from kubectl_gitops.apps import (
    App,
    app_projects_in,
    has_plain_manifests,
    is_application,
    parse_application,
    refuse_clash,
    resolve_target,
)
from kubectl_gitops.engine import render_requests
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.lint.rules import (
    DEFAULT_PRODUCTION,
    RULE_IDS,
    AppInput,
    Finding,
    Severity,
    check_app,
    disabled_by_annotation,
)
from kubectl_gitops.model import Manifest, Obj, SyncOptions, check_sync_annotations, key_of
from kubectl_gitops.project import Project, implicit_default, parse_project
from kubectl_gitops.render import Target, render_sources
from kubectl_gitops.schema import check_argo_document
from kubectl_gitops.source import Sources

Log = Callable[[str], None]
CONFIG_FILE = Path(".gitops") / "lint.yaml"


@dataclass(frozen=True)
class LintConfig:
    """`.gitops/lint.yaml`: `disable: [rule…]`, `severity: {rule: error|warning|info}`,
    `production: [word…]` (what marks an app as production; default prod, production)."""

    disabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    production: tuple[str, ...] = DEFAULT_PRODUCTION


def load_config(root: Path) -> LintConfig:
    path = root / CONFIG_FILE
    if not path.is_file():
        return LintConfig()
    where = str(path)
    doc = yamlio.load(path.read_bytes(), where) or {}
    if not isinstance(doc, dict):
        raise GitopsError(f"{where}: must be a mapping (disable, severity, production)")
    unknown = sorted(set(doc) - {"disable", "severity", "production"})
    if unknown:
        raise GitopsError(f"{where}: unknown key {unknown[0]!r}", hint="keys: disable, severity, production")
    disabled = doc.get("disable") or []
    severity = doc.get("severity") or {}
    production = doc.get("production") or list(DEFAULT_PRODUCTION)
    if not isinstance(disabled, list) or not isinstance(severity, dict) or not isinstance(production, list):
        raise GitopsError(f"{where}: disable and production are lists, severity a mapping of rule to level")
    for rule in [*disabled, *severity]:
        if rule not in RULE_IDS:
            raise GitopsError(f"{where}: unknown rule {rule!r}", hint=f"rules: {', '.join(sorted(RULE_IDS))}")
    levels = {s.label: s for s in Severity}
    for rule, level in severity.items():
        if level not in levels:
            raise GitopsError(f"{where}: severity of {rule}: {level!r} is not one of {', '.join(levels)}")
    return LintConfig(frozenset(disabled), {r: levels[v] for r, v in severity.items()},
                      tuple(str(w) for w in production))


def lint_target(target: str, projects_dir: str | None, log: Log) -> list[Finding]:
    sources = Sources(target, None)
    root = sources.local.workdir if sources.local is not None else Path(target).resolve()
    if root.is_file():
        root = root.parent
    config = load_config(root)
    walk = _Walk(sources, root, config, log)
    for path in _project_files(projects_dir):
        walk.read_projects(path)
    for app in walk.target_apps(target):
        walk.visit(app, ())
    findings = [f for f in walk.findings if f.rule not in config.disabled]
    findings = [replace(f, severity=config.severity.get(f.rule, f.severity), file=walk.relative(f.file),
                        line=f.line or _line_of(f), doc=None) for f in findings]
    return sorted(findings, key=lambda f: (f.file, f.line or 0, f.rule, f.obj))


def _project_files(directory: str | None) -> list[Path]:
    if not directory:
        return []
    d = Path(directory)
    if not d.is_dir():
        raise GitopsError(f"--projects {directory}: not a directory")
    return sorted(p for p in d.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))


class _Walk:
    def __init__(self, sources: Sources, root: Path, config: LintConfig, log: Log) -> None:
        self.sources, self.root, self.config, self.log = sources, root, config, log
        self.findings: list[Finding] = []
        self.projects: dict[str, Project] = {}
        self.done: set[str] = set()
        self.pending: list[tuple[App, list[Manifest]]] = []

    def invalid(self, file: str, obj: str, error: GitopsError, doc: Obj | None = None) -> None:
        self.findings.append(Finding("invalid-manifest", Severity.ERROR, file, obj, error.message,
                                     error.hint or "fix the field named; diff and sync refuse it as it is",
                                     doc=doc))

    def relative(self, file: str) -> str:
        p = Path(file)
        if p.is_absolute() and p.is_relative_to(self.root):
            return p.relative_to(self.root).as_posix()
        return file

    def target_apps(self, target: str) -> list[App]:
        p = Path(target)
        if p.is_dir() and not has_plain_manifests(p, str):
            refuse_clash(target, p, self.sources.search_dirs(), self.sources.display)
            # A directory of Applications (and the AppProjects an App of Apps often carries): every
            # file read, each bad document a finding rather than the end.
            for m in app_projects_in(p):
                self.add_project(m.obj, m.origin)
            apps: list[App] = []
            for f in sorted(x for x in p.iterdir() if x.is_file()):
                apps.extend(self._applications_in(f))
            if apps or any(f.rule == "invalid-manifest" for f in self.findings):
                return apps
        elif p.is_file():
            return self._applications_in(p)
        return resolve_target(target, self.sources.search_dirs(), self.sources.display)[0]

    def _applications_in(self, f: Path) -> list[App]:
        """The file's Applications, each bad one a finding."""
        if f.suffix not in (".yaml", ".yml", ".json"):
            return []
        apps = []
        for doc in yamlio.load_all(f.read_bytes(), str(f)):
            if is_application(doc):
                app = self._parse_app(doc, str(f))
                if app is not None:
                    apps.append(app)
        return apps

    def _parse_app(self, doc: Obj, origin: str) -> App | None:
        try:
            app = parse_application(doc, origin)
            SyncOptions.parse(app.sync_options, f"{origin}: Application {app.name}")  # as sync would
            return app
        except GitopsError as e:
            self.invalid(origin, f"Application {key_of(doc).name}", e, doc)
            return None

    def read_projects(self, path: Path) -> None:
        for doc in yamlio.load_all(path.read_bytes(), str(path)):
            if isinstance(doc, dict) and doc.get("kind") == "AppProject":
                self.add_project(doc, str(path))

    def add_project(self, doc: Obj, origin: str) -> None:
        try:
            check_argo_document(doc, origin)
            p = parse_project(doc, origin)
        except GitopsError as e:
            self.invalid(origin, f"AppProject {key_of(doc).name}", e, doc)
            return
        self.projects.setdefault(p.name, p)

    def visit(self, app: App, stack: tuple[str, ...]) -> None:
        if app.name in stack or app.name in self.done:
            return
        self.done.add(app.name)
        try:
            # No cluster: no Target versions, no repository Secrets.
            reqs = render_requests(app, self.sources, Target, list, 90.0, lambda _msg: None)
            manifests = render_sources(reqs, self.log)
        except GitopsError as e:
            self.findings.append(Finding("render-failed", Severity.ERROR, app.origin, f"Application {app.name}",
                                         e.message, e.hint or "make the app render: diff and sync stop here too",
                                         doc=app.manifest))
            return
        children = []
        for m in manifests:
            if m.obj.get("kind") == "AppProject":
                self.add_project(m.obj, m.origin)
            elif is_application(m.obj):
                child = self._parse_app(m.obj, m.origin)
                if child is not None:
                    children.append(child)
            else:
                self._check_object(m)
        self.pending.append((app, manifests))
        for child in sorted(children, key=lambda a: (a.wave, a.name)):
            self.visit(child, (*stack, app.name))
        if not stack:  # the whole tree is read: every project it carries is known now
            for a, ms in self.pending:
                self.findings.extend(check_app(self._input(a, ms)))
            self.pending.clear()

    def _check_object(self, m: Manifest) -> None:
        k = key_of(m.obj)
        try:
            check_sync_annotations(m.obj, f"{m.origin}: {k}")
        except GitopsError as e:
            if "invalid-manifest" not in disabled_by_annotation(m.obj):
                self.invalid(m.origin, f"{k.kind} {k.namespace + '/' if k.namespace else ''}{k.name}", e, m.obj)

    def _input(self, app: App, manifests: list[Manifest]) -> AppInput:
        project = self.projects.get(app.project) or (implicit_default() if app.project == "default" else None)
        windows = project.windows if project else ()
        app_dir = self.root / app.source.path if app.manifest is not None else Path(app.source.path)
        names = {e.name for d in {self.root, app_dir} if d.is_dir() for e in os.scandir(d)}
        dest = (app.manifest or {}).get("spec", {}).get("destination") or {}
        return AppInput(app=app, manifests=manifests, windows=windows,
                        project_limits_destinations=_limits_destinations(project),
                        dest_server=str(dest.get("server") or ""), dest_name=str(dest.get("name") or ""),
                        app_dir_files=frozenset(names), production_words=self.config.production)


def _limits_destinations(project: Project | None) -> bool:
    """Does the project name the destinations it permits, rather than permit every one?"""
    if project is None or project.name == "default" or not project.destinations:
        return False
    return not any(d.namespace == "*" and "*" in (d.server, d.name) for d in project.destinations)


def _line_of(f: Finding) -> int | None:
    """The line where the finding's document starts in its YAML file (None: not a YAML file of ours)."""
    if f.doc is None or not f.file.endswith((".yaml", ".yml")) or not os.path.isfile(f.file):
        return None
    want = (f.doc.get("kind"), (f.doc.get("metadata") or {}).get("name"))
    try:
        with open(f.file, "rb") as fh:
            nodes = list(yaml.compose_all(fh, Loader=yamlio.Loader))
    except yaml.YAMLError:
        return None
    for node in nodes:
        if isinstance(node, yaml.MappingNode):
            fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            kind = fields.get("kind")
            meta = fields.get("metadata")
            name = None
            if isinstance(meta, yaml.MappingNode):
                name = next((v.value for k, v in meta.value if k.value == "name"), None)
            if (getattr(kind, "value", None), name) == want:
                return node.start_mark.line + 1
    return None
