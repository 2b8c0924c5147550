"""Who gets what: notifications.argoproj.io/subscribe.<trigger>.<service> annotations (and the short
subscribe.<service> with the default triggers) on the Application and its AppProject, and the
ConfigMap's subscriptions list with label selectors. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError

if TYPE_CHECKING:
    from kubectl_gitops.notify.config import NotifyConfig

PREFIX = "notifications.argoproj.io/subscribe."
YAML_KEY = "notifications.argoproj.io/subscribe_yaml"


@dataclass(frozen=True, order=True)
class Destination:
    service: str
    recipient: str

    def __str__(self) -> str:
        return f"{self.service}:{self.recipient}"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has, value = self.key in labels, labels.get(self.key)
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            return not has or value not in self.values
        return has if self.op == "exists" else not has


@dataclass(frozen=True)
class Selector:
    """A Kubernetes label selector (`a=b,c!=d,e in (f,g),h,!i`); empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


_REQ = re.compile(r"\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<val>[\w.-]*)"
                  r"|\s(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?)\s*(?:,|$)")


def parse_selector(text: str, where: str) -> Selector:
    reqs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _REQ.match(text, pos)
        if not m or m.end() == pos:
            raise GitopsError(f"{where}: invalid label selector {text!r}")
        if m.group("not"):
            reqs.append(Requirement(m.group("nkey"), "!"))
        elif m.group("op"):
            reqs.append(Requirement(m.group("key"), "!=" if m.group("op") == "!=" else "=", (m.group("val"),)))
        elif m.group("setop"):
            values = tuple(v.strip() for v in m.group("set").split(",") if v.strip())
            reqs.append(Requirement(m.group("key"), m.group("setop"), values))
        else:
            reqs.append(Requirement(m.group("key"), "exists"))
        pos = m.end()
    return Selector(tuple(reqs))


def _recipients(value: str) -> list[str]:
    if value == "":
        return [""]
    return [r.strip() for r in value.split(";") if r.strip()]


def _annotation_subscriptions(annotations: Mapping[str, Any], where: str) -> Iterable[tuple[str, str, list[str]]]:
    """(trigger or "", service, recipients) per subscription annotation."""
    for key in sorted(annotations):
        value = str(annotations[key] or "")
        if key.startswith(PREFIX):
            parts = key[len(PREFIX):].split(".")
            trigger, service = (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
            yield trigger, service, _recipients(value)
        elif key.startswith(YAML_KEY):
            doc = yamlio.load(value, f"{where} annotation {key}") if value.strip() else []
            if not isinstance(doc, list):
                raise GitopsError(f"{where} annotation {key}: expected a list of subscriptions")
            for sub in doc:
                for trigger in sub.get("trigger") or []:
                    for dest in sub.get("destinations") or []:
                        yield trigger, str(dest.get("service", "")), [str(r) for r in dest.get("recipients") or []]


def annotation_destinations(annotations: Mapping[str, Any], default_triggers: Sequence[str],
                            service_default_triggers: Mapping[str, Sequence[str]],
                            where: str) -> dict[str, list[Destination]]:
    dests: dict[str, list[Destination]] = {}
    for trigger, service, recipients in _annotation_subscriptions(annotations, where):
        triggers = [trigger] if trigger else list(service_default_triggers.get(service, default_triggers))
        for recipient in recipients:
            for t in triggers:
                dests.setdefault(t, []).append(Destination(service, recipient))
    return dests


def config_destinations(cfg: NotifyConfig, labels: Mapping[str, str]) -> dict[str, list[Destination]]:
    """The ConfigMap's subscriptions that select these labels; "service:recipient" recipients."""
    dests: dict[str, list[Destination]] = {}
    for sub in cfg.subscriptions:
        if not sub.selector.matches(labels):
            continue
        for trigger in sub.triggers or cfg.default_triggers:
            for r in sub.recipients:
                service, _, recipient = r.partition(":")
                dests.setdefault(trigger, []).append(Destination(service, recipient))
    return dests


def destinations(cfg: NotifyConfig, app: Mapping[str, Any], project: Mapping[str, Any] | None) -> dict[
        str, list[Destination]]:
    """Every trigger's destinations for this app, deduplicated, in a stable order."""
    meta = app.get("metadata") or {}
    name = meta.get("name", "")
    merged: dict[str, list[Destination]] = {}
    parts = [annotation_destinations(meta.get("annotations") or {}, cfg.default_triggers,
                                     cfg.service_default_triggers, f"Application {name}")]
    if project:
        pmeta = project.get("metadata") or {}
        parts.append(annotation_destinations(pmeta.get("annotations") or {}, cfg.default_triggers,
                                             cfg.service_default_triggers, f"AppProject {pmeta.get('name', '')}"))
    parts.append(config_destinations(cfg, meta.get("labels") or {}))
    for part in parts:
        for trigger, dests in part.items():
            merged.setdefault(trigger, []).extend(dests)
    return {t: list(dict.fromkeys(d)) for t, d in sorted(merged.items())}
