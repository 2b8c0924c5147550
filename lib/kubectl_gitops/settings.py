"""argocd-cm, parsed once per run: ignoreDifferences rules and health customizations. Notifications
and projects settings plug in here as further fields of `Settings`. Pure: data in, settings out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubectl_gitops import yamlio
from kubectl_gitops.apps import IgnoreRule, parse_ignore_rule
from kubectl_gitops.errors import GitopsError

ARGOCD_CM = "argocd-cm"
IGNORE_DIFF_PREFIX = "resource.customizations.ignoreDifferences."
CUSTOMIZATIONS_KEY = "resource.customizations"


@dataclass(frozen=True)
class HealthConfig:
    """Custom Lua health scripts by override key ("group/Kind", core kinds just "Kind"; globs allowed)."""

    scripts: Mapping[str, str] = field(default_factory=dict)
    open_libs: frozenset[str] = frozenset()  # keys whose scripts get the full Lua standard library
    # Argo CD's bundled checks from a resource_customizations directory (health.customizations), below
    # argocd-cm's scripts; they always get the standard library, as Argo CD runs its bundled ones.
    bundled: Mapping[str, str] = field(default_factory=dict)


def config_from_data(data: Mapping[str, str], *, source: str = "argocd-cm") -> HealthConfig:
    """Health customizations from an argocd-cm ConfigMap's `data`.

    Split keys (resource.customizations.health.<group_kind>, ...useOpenLibs.<group_kind>) are applied
    over the combined `resource.customizations` YAML, field by field, as Argo CD does.
    """
    scripts: dict[str, str] = {}
    open_libs: dict[str, bool] = {}
    combined = data.get(CUSTOMIZATIONS_KEY)
    if combined:
        _merge_combined(combined, scripts, open_libs, source)
    for name, value in data.items():
        parts = name.split(".", 3)
        if len(parts) < 4 or f"{parts[0]}.{parts[1]}" != CUSTOMIZATIONS_KEY:
            continue
        kind_of, key = parts[2], _override_key(parts[3], f"{source}: {name}")
        if kind_of == "health":
            scripts[key] = value
        elif kind_of == "useOpenLibs":
            open_libs[key] = _parse_bool(value, f"{source}: {name}")
    return HealthConfig(scripts={k: v for k, v in scripts.items() if v},
                        open_libs=frozenset(k for k, on in open_libs.items() if on))


def _merge_combined(text: str, scripts: dict[str, str], open_libs: dict[str, bool], source: str) -> None:
    where = f"{source}: {CUSTOMIZATIONS_KEY}"
    try:
        overrides = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise GitopsError(f"{where}: not valid YAML: {err}") from None
    if not isinstance(overrides, dict):
        raise GitopsError(f"{where}: expected a mapping of group/Kind to customizations")
    for key, override in overrides.items():
        if not isinstance(override, dict):
            raise GitopsError(f"{where}: {key}: expected a mapping")
        script = override.get("health.lua")
        if script is not None:
            if not isinstance(script, str):
                raise GitopsError(f"{where}: {key}: health.lua must be a string")
            scripts[str(key)] = script
        flag = override.get("health.lua.useOpenLibs")
        if flag is not None:
            if not isinstance(flag, bool):
                raise GitopsError(f"{where}: {key}: health.lua.useOpenLibs must be true or false")
            open_libs[str(key)] = flag


def _override_key(group_kind: str, where: str) -> str:
    """cert-manager.io_Certificate → cert-manager.io/Certificate; Service → Service; all → */*."""
    parts = group_kind.split("_")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 1 and group_kind:
        return "*/*" if group_kind == "all" else group_kind
    raise GitopsError(f"{where}: expected resource.customizations.<type>.<group_kind> or .<kind>")


def _parse_bool(value: str, where: str) -> bool:
    # the spellings Go's strconv.ParseBool accepts
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise GitopsError(f"{where}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    ignore_rules: tuple[IgnoreRule, ...] = ()
    health: HealthConfig = field(default_factory=HealthConfig)


def parse(data: Mapping[str, str], *, source: str = ARGOCD_CM) -> Settings:
    """Settings from an argocd-cm ConfigMap's `data`."""
    return Settings(ignore_rules=ignore_rules(data, source), health=config_from_data(data, source=source))


def from_file(path: str) -> Settings:
    return from_yaml(Path(path).read_text(), source=path)


def from_yaml(text: str, *, source: str) -> Settings:
    """Settings from a local file holding an argocd-cm style ConfigMap."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise GitopsError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
        raise GitopsError(f"{source}: expected a ConfigMap (the shape of argocd-cm)")
    data = doc.get("data") or {}
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        raise GitopsError(f"{source}: ConfigMap data values must be strings: {', '.join(bad)}",
                          hint='quote them, e.g. "true"')
    return parse(data, source=source)


def ignore_rules(data: Mapping[str, str], source: str = ARGOCD_CM) -> tuple[IgnoreRule, ...]:
    """resource.customizations.ignoreDifferences.<group_kind> (or .all) entries."""
    rules: list[IgnoreRule] = []
    for k, v in data.items():
        if not k.startswith(IGNORE_DIFF_PREFIX):
            continue
        gk = k[len(IGNORE_DIFF_PREFIX):]
        doc = yamlio.load(v, f"{source} {k}") or {}
        if not isinstance(doc, dict):
            raise GitopsError(f"{source} {k}: must be a mapping (jsonPointers, jqPathExpressions, "
                              "managedFieldsManagers)")
        if gk == "all":
            group, kind = "*", "*"
        else:
            group, _, kind = gk.rpartition("_")
        rules.append(parse_ignore_rule({**doc, "group": group, "kind": kind}, f"{source} {k}"))
    return tuple(rules)
