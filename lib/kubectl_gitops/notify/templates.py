"""Notification templates: message, title, email (subject, body), slack (attachments, blocks,
groupingKey, notifyBroadcast, deliveryPolicy, username, icon) and webhook.<name> (method, path,
body), each a Go template over app, context, secrets, serviceType and recipient. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.notify.config import NotifyConfig, mask
from kubectl_gitops.notify.gofuncs import template_funcs
from kubectl_gitops.notify.gotemplate import TemplateError
from kubectl_gitops.notify.gotmplexec import Template

DEFAULT_CONTEXT = {"argocdUrl": "https://localhost:4000"}  # Argo CD's default when context names none
SLACK_TEXT_FIELDS = ("attachments", "blocks", "groupingKey", "username", "icon")
DELIVERY_POLICIES = ("Post", "PostAndUpdate", "Update")


@dataclass
class WebhookPart:
    method: str = ""
    path: str = ""
    body: str = ""


@dataclass
class Notification:
    message: str = ""
    title: str = ""
    email_subject: str = ""
    email_body: str = ""
    slack: dict[str, Any] = field(default_factory=dict)
    webhook: dict[str, WebhookPart] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """What `template notify -o yaml` shows."""
        doc: dict[str, Any] = {"message": self.message}
        if self.title:
            doc["title"] = self.title
        if self.email_subject or self.email_body:
            doc["email"] = {k: v for k, v in (("subject", self.email_subject), ("body", self.email_body)) if v}
        if self.slack:
            doc["slack"] = dict(self.slack)
        if self.webhook:
            doc["webhook"] = {k: vars(v) for k, v in self.webhook.items()}
        return doc


class Templates:
    """Every template of the ConfigMap, parsed once (a parse error names the template and field)."""

    def __init__(self, cfg: NotifyConfig) -> None:
        self.cfg = cfg
        funcs = template_funcs()
        self.parsed: dict[str, dict[str, Template]] = {}
        for name, spec in cfg.templates.items():
            parts: dict[str, Template] = {}
            for path, text in _texts(spec):
                try:
                    parts[path] = Template(name, text, funcs)
                except TemplateError as e:
                    raise GitopsError(f"template {name!r} ({path}): {e}") from None
            self.parsed[name] = parts
            policy = (spec.get("slack") or {}).get("deliveryPolicy", "Post")
            if policy not in DELIVERY_POLICIES:
                raise GitopsError(f"template {name!r}: slack.deliveryPolicy {policy!r} is not one of "
                                  f"{', '.join(DELIVERY_POLICIES)}")

    def render(self, names: tuple[str, ...] | list[str], variables: Mapping[str, Any]) -> Notification:
        """The notification of these templates applied in order (a later non-empty part wins)."""
        n = Notification()
        for name in names:
            if name not in self.parsed:
                raise GitopsError(f"template {name!r} is not configured (known: "
                                  f"{', '.join(sorted(self.parsed)) or 'none'})")
            spec = self.cfg.templates[name]
            for path, tmpl in self.parsed[name].items():
                try:
                    text = tmpl.execute(dict(variables))
                except TemplateError as e:
                    raise GitopsError(mask(f"template {name!r} ({path}): {e}", self.cfg.secret_values())) from None
                _set(n, path, text)
            slack = spec.get("slack")
            if isinstance(slack, dict):
                n.slack["notifyBroadcast"] = bool(slack.get("notifyBroadcast", False))
                n.slack["deliveryPolicy"] = slack.get("deliveryPolicy") or "Post"
            for hook, part in (spec.get("webhook") or {}).items():
                n.webhook.setdefault(hook, WebhookPart()).method = str(part.get("method") or "")
        return n


def _texts(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [(k, str(spec[k])) for k in ("message", "title") if k in spec]
    email = spec.get("email") or {}
    out += [(f"email.{k}", str(email[k])) for k in ("subject", "body") if k in email]
    slack = spec.get("slack") or {}
    out += [(f"slack.{k}", str(slack[k])) for k in SLACK_TEXT_FIELDS if k in slack]
    for hook, part in (spec.get("webhook") or {}).items():
        out += [(f"webhook.{hook}.{k}", str(part[k])) for k in ("path", "body") if k in part]
    return out


def _set(n: Notification, path: str, text: str) -> None:
    head, _, rest = path.partition(".")
    if head in ("message", "title"):
        # As notifications-engine: an empty rendering leaves what an earlier template set.
        if text:
            setattr(n, head, text)
    elif head == "email":
        if text:
            setattr(n, f"email_{rest}", text)
    elif head == "slack":
        n.slack[rest] = text
    else:
        hook, _, part = rest.partition(".")
        setattr(n.webhook.setdefault(hook, WebhookPart()), part, text)


def variables(cfg: NotifyConfig, app: Mapping[str, Any], project: Mapping[str, Any] | None,
              service_type: str = "", recipient: str = "") -> dict[str, Any]:
    """What templates (and, without serviceType/recipient, trigger expressions) see."""
    out: dict[str, Any] = {"app": app, "context": {**DEFAULT_CONTEXT, **cfg.context}, "secrets": cfg.secrets}
    if project is not None:
        out["appProject"] = project
    if service_type:
        out.update(serviceType=service_type, recipient=recipient)
    return out
