"""Which environments exist, in what order, and which files hold each service's pins in each one.

From `.gitops/promotion.yaml` when it says so, otherwise detected: the first of the common layouts
below that the repository has (two at once is ambiguous and refused), with the conventional
environment names for the order.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote import appsource
from kubectl_gitops.promote.config import CONFIG_PATH, PLACEHOLDER, parse
from kubectl_gitops.promote.edit import load_plain
from kubectl_gitops.promote.pins import Kind, PinFile

# kustomize's own lookup order for the file in a kustomization directory.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Used only to order environments when there is no config file; anything else must be configured.
CONVENTIONAL_ORDER = ("dev", "development", "test", "testing", "qa", "int", "integration", "uat",
                      "stage", "staging", "preprod", "pre-prod", "prod", "production")
# Directories next to environments that are not environments.
NOT_ENVIRONMENTS = frozenset({"base", "bases", "components", "common", "shared"})
_VALUES_FILE = re.compile(r"values(-[^/]+)?\.ya?ml")


@dataclass(frozen=True)
class Detected:
    """A layout looked for when there is no configuration: its name and the patterns it stands for."""

    name: str
    patterns: tuple[str, ...]


# In order; the Helm values-file layout only counts when no directory layout is there.
DIRECTORY_LAYOUTS = (
    Detected("overlays/<env> (one app per repository)", ("overlays/{env}",)),
    Detected("<svc>/overlays/<env>", ("{service}/overlays/{env}",)),
    Detected("services|apps/<svc>/overlays/<env>", ("services/{service}/overlays/{env}",
                                                    "apps/{service}/overlays/{env}")),
    Detected("envs|environments/<env>[/<svc>]", ("envs/{env}", "environments/{env}",
                                                 "envs/{env}/{service}", "environments/{env}/{service}")),
    Detected("clusters/<env>/<svc>", ("clusters/{env}/{service}",)),
)
VALUES_LAYOUT = Detected("[<svc>/]values-<env>.yaml (Helm)", ("values-{env}.yaml", "{service}/values-{env}.yaml"))


class Tree(Protocol):
    """Read-only view of a commit's files (gitrepo.CommitTree); paths are relative and use '/'."""

    def subdirs(self, path: str) -> list[str]: ...

    def files(self, path: str) -> list[str]: ...

    def read(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Target:
    """The files of one service in one environment."""

    service: str  # "" in a repository that holds one app
    env: str
    files: tuple[PinFile, ...]


@dataclass(frozen=True)
class Layout:
    environments: tuple[str, ...]  # promotion order, first to last
    targets: tuple[Target, ...]
    origin: str  # where the order came from, for error messages
    name: str  # the layout, as `status` reports it
    image_keys: tuple[str, ...]  # image blocks in Helm values files

    @property
    def services(self) -> list[str]:
        return sorted({t.service for t in self.targets})

    def target(self, service: str, env: str) -> Target | None:
        return next((t for t in self.targets if t.service == service and t.env == env), None)

    def in_env(self, env: str) -> list[Target]:
        return [t for t in self.targets if t.env == env]

    def check_env(self, env: str) -> str:
        if env not in self.environments:
            raise GitopsError(f"unknown environment {env!r}; known (from {self.origin}): "
                              f"{', '.join(self.environments)}")
        return env

    def previous(self, env: str) -> str:
        """The environment that promotes into `env`."""
        position = self.environments.index(self.check_env(env))
        if position == 0:
            raise GitopsError(f"{env} is the first environment; nothing is promoted into it",
                              hint=f"use `git promote set-image NAME=TAG --env {env}`, or --from ENV")
        return self.environments[position - 1]

    def select_services(self, wanted: Iterable[str]) -> list[str]:
        """The services named by --service (all when none), refusing unknown names."""
        wanted = list(wanted)
        for name in wanted:
            if name not in self.services:
                known = ", ".join(s for s in self.services if s) or "none (this repository holds one app)"
                raise GitopsError(f"unknown service {name!r}; known: {known}")
        return sorted(set(wanted)) if wanted else self.services


def load_layout(tree: Tree) -> Layout:
    config = parse(tree.read(CONFIG_PATH))
    configured: dict[tuple[str, str], Target] = {}
    for service, pattern in config.services.items():
        _collect(configured, tree, [pattern], service=service)
    for env, paths in config.paths.items():
        for service, path in paths.items():
            target = _target(tree, service, env, path)
            if target is None:
                raise GitopsError(f"{CONFIG_PATH}: {env}: {path} holds no kustomization, Helm values or "
                                  "Application file")
            configured[(service, env)] = target
    # what the configuration places is not looked for again by a pattern
    skip = (set(config.services), {f.path for t in configured.values() for f in t.files})
    found: dict[tuple[str, str], Target] = {}
    if config.pattern:
        name = f"{config.pattern} (from {CONFIG_PATH})"
        _collect(found, tree, [config.pattern], skip=skip)
    else:
        detected = _detect(found, tree, skip=skip)
        name = detected or f"the paths in {CONFIG_PATH}"
        if detected and config.paths:
            name += f" and the paths in {CONFIG_PATH}"
        elif not detected and not config.paths:
            looked = ", ".join(layout.name for layout in (*DIRECTORY_LAYOUTS, VALUES_LAYOUT))
            raise GitopsError(f"no environments found; looked for {looked}", hint=_how_to_configure())
    found.update(configured)
    targets = _drop_shared(list(found.values()))
    if config.environments is not None:
        order, origin = config.environments, CONFIG_PATH
    else:
        order, origin = _infer_order({t.env for t in targets}), f"the layout {name}"
    targets = [t for t in targets if t.env in order]
    if not targets:
        raise GitopsError(f"no environments found at {name}", hint=_how_to_configure())
    return Layout(order, tuple(sorted(targets, key=lambda t: (t.service, order.index(t.env)))), origin, name,
                  config.image_keys)


Skip = tuple[set[str], set[str]]  # service names, file paths


def _detect(found: dict[tuple[str, str], Target], tree: Tree, skip: Skip) -> str | None:
    """The name of the one layout the repository has (its targets added to `found`), or None."""
    matched = []
    for layout in DIRECTORY_LAYOUTS:
        mine: dict[tuple[str, str], Target] = {}
        _collect(mine, tree, layout.patterns, skip=skip)
        if mine:
            matched.append((layout, mine))
    if not matched:
        mine = {}
        _collect(mine, tree, VALUES_LAYOUT.patterns, skip=skip)
        if mine:
            matched.append((VALUES_LAYOUT, mine))
    if len(matched) > 1:
        seen = "; ".join(f"{layout.name}, e.g. {_example(mine)}" for layout, mine in matched)
        raise GitopsError(f"this repository matches {len(matched)} layouts: {seen}",
                          hint=f"say which one in {CONFIG_PATH}, e.g. `overlays: {{service}}/overlays/{{env}}`")
    if not matched:
        return None
    layout, mine = matched[0]
    found.update(mine)
    return layout.name


def _how_to_configure() -> str:
    return (f"describe the layout in {CONFIG_PATH}: `overlays: <pattern with {{env}} and optional "
            "{service}>`, or list `environments:` with a `path:` each (see man git-promote)")


def _example(targets: dict[tuple[str, str], Target]) -> str:
    return min(targets.values(), key=lambda t: (t.service, t.env)).files[0].path


def _collect(found: dict[tuple[str, str], Target], tree: Tree, patterns: Iterable[str], *,
             service: str | None = None, skip: Skip = (set(), set())) -> None:
    """Targets at `patterns`; a pattern with {service} does not replace one found without it."""
    for pattern in patterns:
        for bindings, path in _match(tree, pattern):
            env, svc = bindings["env"], service if service is not None else bindings.get("service", "")
            if env in NOT_ENVIRONMENTS or svc in skip[0] or svc.startswith("."):
                continue
            if "service" in bindings and any(k[1] == env and k[0] == "" for k in found):
                continue  # envs/<env> holds the app itself; its subdirectories are its parts
            target = _target(tree, svc, env, path)
            own = {f.path for f in target.files if f.path == path or posixpath.dirname(f.path) == path} \
                if target else set()
            if target is not None and not own & skip[1]:
                found[(svc, env)] = target


def _match(tree: Tree, pattern: str) -> list[tuple[dict[str, str], str]]:
    """Paths matching `pattern` (directories, and files for the last part), with what each
    placeholder stood for."""
    results: list[tuple[dict[str, str], str]] = [({}, "")]
    segments = pattern.split("/")
    for depth, segment in enumerate(segments):
        parts = re.split(r"(\{(?:service|env)\})", segment)
        regex = re.compile("".join(f"(?P<{p[1:-1]}>[^/]+)" if PLACEHOLDER.fullmatch(p) else re.escape(p)
                                   for p in parts))
        last = depth == len(segments) - 1
        step: list[tuple[dict[str, str], str]] = []
        for bindings, path in results:
            names = tree.subdirs(path) + (tree.files(path) if last else [])
            for name in names:
                m = regex.fullmatch(name)
                if m:
                    step.append(({**bindings, **m.groupdict()}, _join(path, name)))
        results = step
    return results


def _target(tree: Tree, service: str, env: str, path: str) -> Target | None:
    """The pin files at `path` (a directory, or one file), or None when it holds none."""
    if tree.read(path) is not None:
        files = _classify(tree, posixpath.dirname(path), [posixpath.basename(path)], single=True)
    else:
        files = _classify(tree, path, tree.files(path), single=False)
    return Target(service, env, tuple(files)) if files else None


def _classify(tree: Tree, directory: str, names: list[str], *, single: bool) -> list[PinFile]:
    files: list[PinFile] = []
    kustomization = next((f for f in KUSTOMIZATION_FILES if f in names), None)
    for name in names:
        path = _join(directory, name)
        if name == kustomization:
            files.append(PinFile(path, Kind.IMAGE))
        elif _VALUES_FILE.fullmatch(name):
            files.append(PinFile(path, Kind.VALUES))
        elif name.endswith((".yaml", ".yml")):
            docs = load_plain((tree.read(path) or b"").decode(errors="replace"), path)
            if any(appsource.is_application(d) for d in docs):
                files.append(PinFile(path, Kind.REVISION))
                files += [PinFile(p, Kind.VALUES) for p in appsource.value_files(docs, path)
                          if tree.read(p) is not None]
            elif single:  # a file named by the layout itself, e.g. values-{env}.yaml
                files.append(PinFile(path, Kind.VALUES))
    return list(dict.fromkeys(files))


def _drop_shared(targets: list[Target]) -> list[Target]:
    """A file that several environments read (the chart's values.yaml named by every env's
    Application) is not any one environment's to change."""
    envs: dict[str, set[str]] = {}
    for t in targets:
        for f in t.files:
            envs.setdefault(f.path, set()).add(t.env)
    kept = []
    for t in targets:
        files = tuple(f for f in t.files if len(envs[f.path]) == 1)
        if files:
            kept.append(Target(t.service, t.env, files))
    return kept


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _infer_order(envs: set[str]) -> tuple[str, ...]:
    unknown = sorted(envs - set(CONVENTIONAL_ORDER))
    if unknown:
        raise GitopsError(f"cannot tell where environment {', '.join(unknown)} goes in the promotion order",
                          hint=f"list the environments in {CONFIG_PATH}, e.g. "
                               "`environments: [dev, staging, prod]`")
    return tuple(e for e in CONVENTIONAL_ORDER if e in envs)
