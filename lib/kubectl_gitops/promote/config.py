"""`.gitops/promotion.yaml`: the environment order, where each environment's files are, Helm image keys.

    environments:              # first to last; a name, or a name with its directory (or file)
      - dev
      - name: prod
        path: deploy/production            # or a mapping service -> directory
    overlays: "{service}/deploy/{env}"     # a pattern; {service} is optional (one app per repository)
    services:                              # services whose files are elsewhere
      legacy: legacy/deploy/{env}
    helm:
      imageKeys: [image.tag, api.image.tag]   # image blocks of Helm values files
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.values import DEFAULT_KEYS

CONFIG_PATH = ".gitops/promotion.yaml"
KEYS = ("environments", "overlays", "services", "helm")
PLACEHOLDER = re.compile(r"\{(service|env)\}")
_HELM_KEYS = ("imageKeys",)


@dataclass(frozen=True)
class Config:
    environments: tuple[str, ...] | None = None  # the promotion order, when configured
    pattern: str | None = None  # overlays:
    services: dict[str, str] = field(default_factory=dict)  # service -> pattern with only {env}
    paths: dict[str, dict[str, str]] = field(default_factory=dict)  # env -> service ("" alone) -> path
    image_keys: tuple[str, ...] = DEFAULT_KEYS


def parse(raw: bytes | None) -> Config:
    if raw is None:
        return Config()
    doc = yamlio.load(raw, CONFIG_PATH)
    if not isinstance(doc, dict):
        raise GitopsError(f"{CONFIG_PATH}: expected a mapping with {', '.join(KEYS)}")
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise GitopsError(f"{CONFIG_PATH}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(KEYS)}")
    order, paths = _environments(doc.get("environments"))
    pattern = doc.get("overlays")
    return Config(order, None if pattern is None else check_pattern(pattern, "overlays", optional=True),
                  _services(doc.get("services")), paths, _image_keys(doc.get("helm")))


def _environments(value: object) -> tuple[tuple[str, ...] | None, dict[str, dict[str, str]]]:
    if value is None:
        return None, {}
    if not isinstance(value, list) or not value:
        raise GitopsError(f"{CONFIG_PATH}: environments: must be a list of names, first to last")
    names: list[str] = []
    paths: dict[str, dict[str, str]] = {}
    for i, item in enumerate(value):
        if isinstance(item, dict):
            extra = sorted(set(item) - {"name", "path"})
            if extra or not isinstance(item.get("name"), str) or "path" not in item:
                raise GitopsError(f"{CONFIG_PATH}: environments[{i}] must be a name, or name: and path:")
            paths[item["name"]] = _env_paths(item["path"], i)
            item = item["name"]
        if not isinstance(item, str) or not item:
            raise GitopsError(f"{CONFIG_PATH}: environments: must be a list of names, first to last")
        names.append(item)
    if len(set(names)) != len(names):
        raise GitopsError(f"{CONFIG_PATH}: environments: lists a name twice")
    return tuple(names), paths


def _env_paths(value: object, i: int) -> dict[str, str]:
    where = f"environments[{i}].path"
    if isinstance(value, str) and value.strip("/"):
        return {"": _plain_path(value, where)}
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return {str(k): _plain_path(v, f"{where}.{k}") for k, v in value.items()}
    raise GitopsError(f"{CONFIG_PATH}: {where} must be a directory, or map each service to one")


def _plain_path(value: str, key: str) -> str:
    path = value.strip("/")
    if "{" in path or ".." in path.split("/"):
        raise GitopsError(f"{CONFIG_PATH}: {key}: {value!r} must be a plain path inside the repository")
    return path


def _services(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GitopsError(f"{CONFIG_PATH}: services: must map each service to its path pattern")
    return {str(k): check_pattern(v, f"services.{k}", optional=False) for k, v in value.items()}


def check_pattern(value: object, key: str, *, optional: bool) -> str:
    """A path pattern with {env} once and, when `optional`, {service} at most once; each placeholder
    stands for (part of) one directory or file name, e.g. {service}/overlays/{env} or values-{env}.yaml."""
    example = "services/{service}/overlays/{env}"
    if not isinstance(value, str) or not value.strip("/"):
        raise GitopsError(f"{CONFIG_PATH}: {key}: must be a path like {example}")
    segments = value.strip("/").split("/")
    used = [m for s in segments for m in PLACEHOLDER.findall(s)]
    ok = (used.count("env") == 1 and used.count("service") <= (1 if optional else 0)
          and all(len(PLACEHOLDER.findall(s)) <= 1 and "{" not in PLACEHOLDER.sub("", s) for s in segments)
          and ".." not in segments)
    if not ok:
        wanted = "{env} once and {service} at most once" if optional else "{env} once"
        raise GitopsError(f"{CONFIG_PATH}: {key}: {value!r} must use {wanted}, at most one per "
                          "directory or file name")
    return value.strip("/")


def _image_keys(value: object) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_KEYS
    if not isinstance(value, dict) or set(value) - set(_HELM_KEYS):
        raise GitopsError(f"{CONFIG_PATH}: helm: must be a mapping with imageKeys:")
    keys = value.get("imageKeys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise GitopsError(f"{CONFIG_PATH}: helm.imageKeys: must list keys like image.tag or api.image.tag")
    # the block is what is promoted (tag, repository, registry, digest together)
    return tuple(dict.fromkeys(k.removesuffix(".tag") for k in keys))
