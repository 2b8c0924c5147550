"""Which environments exist, in what order, and where each service's overlay for each one lives.

Read from `.gitops/promotion.yaml` when the repository has one, otherwise inferred from the standard
layout `services/<service>/overlays/<env>/kustomization.yaml` and the conventional environment names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError

CONFIG_PATH = ".gitops/promotion.yaml"
DEFAULT_PATTERN = "services/{service}/overlays/{env}"
# kustomize's own lookup order for the file in a kustomization directory.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Used only to order environments when there is no config file; anything else must be configured.
CONVENTIONAL_ORDER = ("dev", "development", "test", "testing", "qa", "int", "integration", "uat",
                      "stage", "staging", "preprod", "pre-prod", "prod", "production")
_PLACEHOLDER = re.compile(r"\{(service|env)\}")


class Tree(Protocol):
    """Read-only view of a commit's files (gitrepo.CommitTree); paths are relative and use '/'."""

    def subdirs(self, path: str) -> list[str]: ...

    def files(self, path: str) -> list[str]: ...

    def read(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Overlay:
    service: str
    env: str
    path: str  # the kustomization file, relative to the repository root


@dataclass(frozen=True)
class Layout:
    environments: tuple[str, ...]  # promotion order, first to last
    overlays: tuple[Overlay, ...]
    origin: str  # where the order came from, for error messages

    @property
    def services(self) -> list[str]:
        return sorted({o.service for o in self.overlays})

    def overlay(self, service: str, env: str) -> Overlay | None:
        return next((o for o in self.overlays if o.service == service and o.env == env), None)

    def in_env(self, env: str) -> list[Overlay]:
        return [o for o in self.overlays if o.env == env]

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
                raise GitopsError(f"unknown service {name!r}; known: {', '.join(self.services) or 'none'}")
        return sorted(set(wanted)) if wanted else self.services


@dataclass(frozen=True)
class _Config:
    environments: tuple[str, ...] | None
    pattern: str
    services: dict[str, str]  # service -> pattern with only {env}


def load_layout(tree: Tree) -> Layout:
    config = _read_config(tree)
    overlays = _discover(tree, config)
    if config.environments is not None:
        order, origin = config.environments, CONFIG_PATH
    else:
        order, origin = _infer_order({o.env for o in overlays}), f"the layout {config.pattern}"
    overlays = [o for o in overlays if o.env in order]
    if not overlays:
        raise GitopsError(f"no overlays found at {config.pattern}",
                          hint=f"describe the layout in {CONFIG_PATH} (see man git-promote)")
    return Layout(order, tuple(sorted(overlays, key=lambda o: (o.service, order.index(o.env)))), origin)


def _read_config(tree: Tree) -> _Config:
    raw = tree.read(CONFIG_PATH)
    if raw is None:
        return _Config(None, DEFAULT_PATTERN, {})
    doc = yamlio.load(raw, CONFIG_PATH)
    if not isinstance(doc, dict):
        raise GitopsError(f"{CONFIG_PATH}: expected a mapping with environments:, overlays:, services:")
    unknown = set(doc) - {"environments", "overlays", "services"}
    if unknown:
        raise GitopsError(f"{CONFIG_PATH}: unknown key {sorted(unknown)[0]!r}",
                          hint="known keys: environments, overlays, services")
    return _Config(_environments(doc.get("environments")),
                   _pattern(doc.get("overlays", DEFAULT_PATTERN), "overlays", ("service", "env")),
                   _services(doc.get("services")))


def _environments(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise GitopsError(f"{CONFIG_PATH}: environments: must be a list of names, first to last")
    if len(set(value)) != len(value):
        raise GitopsError(f"{CONFIG_PATH}: environments: lists a name twice")
    return tuple(value)


def _services(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GitopsError(f"{CONFIG_PATH}: services: must map each service to its overlay path")
    return {str(k): _pattern(v, f"services.{k}", ("env",)) for k, v in value.items()}


def _pattern(value: object, key: str, required: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise GitopsError(f"{CONFIG_PATH}: {key}: must be a path like {DEFAULT_PATTERN}")
    segments = value.strip("/").split("/")
    used = [m[1] for s in segments if (m := _PLACEHOLDER.fullmatch(s))]
    # Placeholders stand for whole directory names so a pattern can be matched against the tree.
    if any("{" in s and not _PLACEHOLDER.fullmatch(s) for s in segments) or sorted(used) != sorted(required):
        wanted = " and ".join(f"{{{r}}}" for r in required)
        raise GitopsError(f"{CONFIG_PATH}: {key}: {value!r} must use {wanted} once each, "
                          "each as a whole directory name")
    return value.strip("/")


def _discover(tree: Tree, config: _Config) -> list[Overlay]:
    found: dict[tuple[str, str], Overlay] = {}
    for bindings, path in _match(tree, config.pattern):
        if bindings["service"] not in config.services:
            _add(found, tree, bindings["service"], bindings["env"], path)
    for service, pattern in config.services.items():
        for bindings, path in _match(tree, pattern):
            _add(found, tree, service, bindings["env"], path)
    return list(found.values())


def _add(found: dict[tuple[str, str], Overlay], tree: Tree, service: str, env: str, directory: str) -> None:
    names = tree.files(directory)
    file = next((f for f in KUSTOMIZATION_FILES if f in names), None)
    if file is not None:
        found[(service, env)] = Overlay(service, env, f"{directory}/{file}")


def _match(tree: Tree, pattern: str) -> list[tuple[dict[str, str], str]]:
    """Directories matching `pattern`, with the directory names each placeholder stood for."""
    results: list[tuple[dict[str, str], str]] = [({}, "")]
    for segment in pattern.split("/"):
        placeholder = _PLACEHOLDER.fullmatch(segment)
        step: list[tuple[dict[str, str], str]] = []
        for bindings, path in results:
            for name in tree.subdirs(path):
                if placeholder:
                    step.append(({**bindings, placeholder[1]: name}, _join(path, name)))
                elif name == segment:
                    step.append((bindings, _join(path, name)))
        results = step
    return results


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _infer_order(envs: set[str]) -> tuple[str, ...]:
    unknown = sorted(envs - set(CONVENTIONAL_ORDER))
    if unknown:
        raise GitopsError(f"cannot tell where environment {', '.join(unknown)} goes in the promotion order",
                          hint=f"list the environments in {CONFIG_PATH}, e.g. "
                               "`environments: [dev, staging, prod]`")
    return tuple(e for e in CONVENTIONAL_ORDER if e in envs)
