"""argocd-notifications-cm and argocd-notifications-secret, parsed as notifications-engine reads them:
service.<type>[.<name>], trigger.<name>, template.<name>, defaultTriggers[.<service>], subscriptions,
context; `$key` in a service's string values is that key of the Secret. Pure: no I/O here."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj
from kubectl_gitops.notify import CM_NAME, SECRET_NAME
from kubectl_gitops.notify.expr import ExprSyntaxError, Node, parse
from kubectl_gitops.notify.subscriptions import Selector, parse_selector

DELIVERED = {"webhook", "slack", "email"}
# Service types notifications-engine knows and kubectl-gitops does not deliver: accepted in the
# ConfigMap (and in templates), refused by name when a subscription sends to one.
NOT_DELIVERED = {"awssqs", "gcppubsub", "mattermost", "rocketchat", "teams", "teams-workflows", "opsgenie",
                 "github", "gitlab", "alertmanager", "googlechat", "pagerduty", "pagerdutyv2", "newrelic",
                 "telegram", "grafana", "pushover", "webex", "nats", "kafka", "datadog", "matrix"}
SERVICE_FIELDS = {
    "webhook": {"url", "headers", "basicAuth", "insecureSkipVerify", "retryWaitMin", "retryWaitMax", "retryMax"},
    "slack": {"token", "apiURL", "channels", "username", "icon", "signingSecret", "disableUnfurl",
              "insecureSkipVerify"},
    "email": {"host", "port", "username", "password", "from", "html", "insecure_skip_verify"},
}
TEMPLATE_FIELDS = {"message", "title", "email", "slack", "webhook"}
SLACK_TEMPLATE_FIELDS = {"attachments", "blocks", "groupingKey", "notifyBroadcast", "deliveryPolicy", "username",
                         "icon"}
_SECRET_REF = re.compile(r"\$[\w-]+")


@dataclass(frozen=True)
class Condition:
    when: str
    send: tuple[str, ...]
    once_per: str = ""
    description: str = ""
    when_ast: Node = field(default=("lit", False), repr=False, compare=False)
    once_per_ast: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    options: dict[str, Any] = field(repr=False)  # secrets substituted: never print


@dataclass(frozen=True)
class DefaultSubscription:
    recipients: tuple[str, ...]
    triggers: tuple[str, ...]
    selector: Selector


@dataclass(frozen=True)
class NotifyConfig:
    services: dict[str, Service]
    triggers: dict[str, tuple[Condition, ...]]
    templates: dict[str, dict[str, Any]]
    default_triggers: tuple[str, ...] = ()
    service_default_triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subscriptions: tuple[DefaultSubscription, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def secret_values(self) -> list[str]:
        """Every value of the Secret, longest first, for masking what we print."""
        return sorted((v for v in self.secrets.values() if v), key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced, for anything we print or keep."""
    for value in secrets:
        text = text.replace(value, "******")
    return text


def secret_data(secret: Obj | None, source: str) -> dict[str, str]:
    """A Secret's data (base64) and stringData as text; the error never shows a value."""
    if not secret:
        return {}
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise GitopsError(f"{source}: data.{key} is not base64-encoded UTF-8 text") from None
    out.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return out


def parse_config(cm: Obj | None, secret: Obj | None, source: str) -> NotifyConfig:
    """The notifications settings of a ConfigMap and Secret; a bad key is one GitopsError naming it."""
    data = (cm or {}).get("data") or {}
    secrets = secret_data(secret, f"{source} ({SECRET_NAME})")
    services: dict[str, Service] = {}
    triggers: dict[str, tuple[Condition, ...]] = {}
    templates: dict[str, dict[str, Any]] = {}
    service_defaults: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        where = f"{source}: {CM_NAME} key {key!r}"
        kind, _, name = key.partition(".")
        if kind == "service":
            svc = _service(key, value, secrets, where)
            services[svc.name] = svc
        elif kind == "trigger" and name:
            triggers[name] = _trigger(name, value, where)
        elif kind == "template" and name:
            templates[name] = _template(value, where)
        elif kind == "defaultTriggers" and name:
            service_defaults[name] = _names(value, where)
        elif key not in ("defaultTriggers", "subscriptions", "context"):
            raise GitopsError(f"{where}: not a notifications setting (service.*, trigger.*, template.*, "
                              "defaultTriggers, subscriptions, context)")
    return NotifyConfig(
        services=services, triggers=triggers, templates=templates,
        default_triggers=_names(data["defaultTriggers"], f"{source}: {CM_NAME} defaultTriggers")
        if "defaultTriggers" in data else (),
        service_default_triggers=service_defaults,
        subscriptions=_subscriptions(data.get("subscriptions"), f"{source}: {CM_NAME} subscriptions"),
        context=_mapping(data.get("context"), f"{source}: {CM_NAME} context"), secrets=secrets)


def _load(value: Any, where: str) -> Any:
    return yamlio.load(value, where) if isinstance(value, str) and value.strip() else None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    doc = _load(value, where)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise GitopsError(f"{where}: expected a mapping")
    return doc


def _names(value: Any, where: str) -> tuple[str, ...]:
    doc = _load(value, where) or []
    if not isinstance(doc, list) or not all(isinstance(x, str) for x in doc):
        raise GitopsError(f"{where}: expected a list of trigger names")
    return tuple(doc)


def _service(key: str, value: str, secrets: dict[str, str], where: str) -> Service:
    parts = key.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise GitopsError(f"{where}: invalid service key; expected 'service.<type>(.<name>)'")
    stype, name = parts[1], parts[-1]
    opts = _mapping(value, where)
    if stype in SERVICE_FIELDS:
        unknown = sorted(set(opts) - SERVICE_FIELDS[stype])
        if unknown:
            raise GitopsError(f"{where}: field {unknown[0]!r} is not supported for {stype} services "
                              f"(supported: {', '.join(sorted(SERVICE_FIELDS[stype]))})")
    elif stype not in NOT_DELIVERED:
        raise GitopsError(f"{where}: service type {stype!r} is not supported")
    return Service(name, stype, _substitute(opts, secrets))


def _substitute(value: Any, secrets: dict[str, str]) -> Any:
    """$key in every string value becomes that key of the Secret (an unknown key stays as written)."""
    if isinstance(value, str):
        return _SECRET_REF.sub(lambda m: secrets.get(m.group()[1:], m.group()), value)
    if isinstance(value, list):
        return [_substitute(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, secrets) for k, v in value.items()}
    return value


def _trigger(name: str, value: str, where: str) -> tuple[Condition, ...]:
    doc = _load(value, where)
    if not isinstance(doc, list):
        raise GitopsError(f"{where}: expected a list of conditions")
    conditions = []
    for i, c in enumerate(doc):
        if not isinstance(c, dict):
            raise GitopsError(f"{where}[{i}]: expected a mapping with when/send")
        unknown = sorted(set(c) - {"when", "send", "oncePer", "description"})
        if unknown:
            raise GitopsError(f"{where}[{i}]: unknown field {unknown[0]!r} (when, send, oncePer, description)")
        send = c.get("send") or []
        if not isinstance(send, list) or not all(isinstance(s, str) for s in send):
            raise GitopsError(f"{where}[{i}].send: expected a list of template names")
        when, once_per = str(c.get("when") or ""), str(c.get("oncePer") or "")
        conditions.append(Condition(
            when=when, send=tuple(send), once_per=once_per, description=str(c.get("description") or ""),
            when_ast=_compile(when or "false", name, i, "when"),
            once_per_ast=_compile(once_per, name, i, "oncePer") if once_per else None))
    return tuple(conditions)


def _compile(text: str, trigger: str, index: int, what: str) -> Node:
    try:
        return parse(text)
    except ExprSyntaxError as e:
        raise GitopsError(f"trigger {trigger!r} condition [{index}] {what}: syntax error: {e}: {text}") from None


def _template(value: str, where: str) -> dict[str, Any]:
    doc = _mapping(value, where)
    for key, block in doc.items():
        if key in NOT_DELIVERED:
            continue
        if key not in TEMPLATE_FIELDS:
            raise GitopsError(f"{where}: unknown field {key!r} (message, title, email, slack, webhook, or "
                              "another service's block)")
        if key in ("message", "title") and not isinstance(block, str):
            raise GitopsError(f"{where}: {key} must be a string")
        allowed = {"email": {"subject", "body"}, "slack": SLACK_TEMPLATE_FIELDS}.get(key)
        if key in ("email", "slack", "webhook") and not isinstance(block, dict):
            raise GitopsError(f"{where}: {key} must be a mapping")
        if allowed is not None:
            unknown = sorted(set(block) - allowed)
            if unknown:
                raise GitopsError(f"{where}: unknown field {key}.{unknown[0]} ({', '.join(sorted(allowed))})")
        if key == "webhook":
            for hook, spec in block.items():
                if not isinstance(spec, dict) or set(spec) - {"method", "path", "body"}:
                    raise GitopsError(f"{where}: webhook.{hook} takes method, path and body")
    return doc


def _subscriptions(value: Any, where: str) -> tuple[DefaultSubscription, ...]:
    doc = _load(value, where) or []
    if not isinstance(doc, list):
        raise GitopsError(f"{where}: expected a list")
    out = []
    for i, s in enumerate(doc):
        if not isinstance(s, dict) or set(s) - {"recipients", "triggers", "selector"}:
            raise GitopsError(f"{where}[{i}]: expected recipients, triggers and selector")
        recipients, trigs = s.get("recipients") or [], s.get("triggers") or []
        if not all(isinstance(x, str) for x in [*recipients, *trigs]):
            raise GitopsError(f"{where}[{i}]: recipients and triggers are lists of strings")
        out.append(DefaultSubscription(tuple(recipients), tuple(trigs),
                                       parse_selector(str(s.get("selector") or ""), f"{where}[{i}].selector")))
    return tuple(out)
