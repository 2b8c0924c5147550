"""Delivery (the only I/O of notify): webhook (retries on network errors and 5xx, bounded), Slack's
chat.postMessage (and chat.update for grouped messages) and email over SMTP with STARTTLS. A
failed delivery is a result, never an exception; what it says never holds a secret value."""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.config import Service, mask
from kubectl_gitops.notify.subscriptions import Destination
from kubectl_gitops.notify.templates import Notification

SLACK_API = "https://slack.com/api/"
TIMEOUT = 10.0  # seconds per request or SMTP session


@dataclass(frozen=True)
class Delivery:
    trigger: str
    destination: Destination
    templates: tuple[str, ...]
    ok: bool
    detail: str = ""


class DeliveryError(Exception):
    pass


class Sender:
    """Sends notifications, masking secret values in what it reports."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.slack = Slack()

    def send(self, service: Service, n: Notification, dest: Destination) -> str:
        """Deliver; raises DeliveryError with a masked message."""
        try:
            if service.type == "webhook":
                return self.webhook(service, n, dest)
            if service.type == "slack":
                return self.slack.send(service, n, dest)
            if service.type == "email":
                return self.email(service, n, dest)
        except DeliveryError as e:
            raise DeliveryError(mask(str(e), self.secrets)) from None
        except Exception as e:
            raise DeliveryError(mask(f"{type(e).__name__}: {e}", self.secrets)) from None
        raise DeliveryError(f"service type {service.type!r} (service.{service.type}.{service.name}) is not "
                            "delivered by kubectl-gitops (webhook, slack, email)")

    def webhook(self, svc: Service, n: Notification, dest: Destination) -> str:
        o = svc.options
        url, method, body = str(o.get("url") or ""), "GET", n.message
        if not url:
            raise DeliveryError(f"service.webhook.{svc.name}: url is not set")
        part = n.webhook.get(dest.service)
        if part is not None:
            body, method = part.body, part.method or method
            if part.path:
                url = url.rstrip("/") + "/" + part.path.lstrip("/")
        headers = {str(h.get("name")): str(h.get("value", "")) for h in o.get("headers") or []}
        auth = o.get("basicAuth")
        if auth:
            token = base64.b64encode(f"{auth.get('username', '')}:{auth.get('password', '')}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        retries = int(o.get("retryMax") or 3)
        wait_min = _seconds(o.get("retryWaitMin"), 1.0)
        wait_max = _seconds(o.get("retryWaitMax"), 5.0)
        ctx = _tls(bool(o.get("insecureSkipVerify")))
        for attempt in range(retries + 1):
            try:
                status, data = _http(method.upper(), url, body.encode(), headers, ctx)
                if status < 500:
                    break
                problem = f"status {status}"
            except (OSError, urllib.error.URLError) as e:
                problem, status, data = _reason(e), 0, b""
            if attempt == retries:
                raise DeliveryError(f"{method.upper()} {_redact_url(url)} failed after {retries + 1} attempts: "
                                    f"{problem}")
            time.sleep(min(wait_max, wait_min * 2 ** attempt))
        if not 200 <= status < 300:
            raise DeliveryError(f"{method.upper()} {_redact_url(url)}: status {status}: "
                                f"{data[:200].decode(errors='replace')}")
        return f"{method.upper()} {_redact_url(url)}: {status}"

    def email(self, svc: Service, n: Notification, dest: Destination) -> str:
        o = svc.options
        host, port = str(o.get("host") or ""), int(o.get("port") or 25)
        if not host:
            raise DeliveryError(f"service.email.{svc.name}: host is not set")
        msg = EmailMessage()
        msg["From"], msg["To"] = str(o.get("from") or ""), dest.recipient
        msg["Subject"] = n.email_subject or n.title
        msg.set_content(n.email_body or n.message, subtype="html" if o.get("html") else "plain")
        ctx = _tls(bool(o.get("insecure_skip_verify"))) or ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=ctx) if port == 465 else smtplib.SMTP(
            host, port, timeout=TIMEOUT)
        with smtp:
            smtp.ehlo()
            if port != 465 and smtp.has_extn("starttls"):
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if o.get("username"):
                smtp.login(str(o["username"]), str(o.get("password", "")))
            smtp.send_message(msg)
        return f"email to {dest.recipient} via {host}:{port}: sent"


class Slack:
    """Slack's Web API; keeps thread timestamps per (channel, groupingKey) for this run."""

    def __init__(self) -> None:
        self.threads: dict[tuple[str, str], str] = {}

    def send(self, svc: Service, n: Notification, dest: Destination) -> str:
        o = svc.options
        api = str(o.get("apiURL") or SLACK_API)
        api = api if api.endswith("/") else api + "/"
        # A subscription without a recipient goes to the service's `channels`.
        channels = [dest.recipient] if dest.recipient else [str(c) for c in o.get("channels") or []]
        if not channels:
            raise DeliveryError(f"service.slack.{svc.name}: no channel (give a recipient or `channels`)")
        return "; ".join(self._slack_to(o, api, channel, n) for channel in channels)

    def _slack_to(self, o: dict[str, Any], api: str, channel: str, n: Notification) -> str:
        form: dict[str, str] = {"channel": channel, "text": n.message}
        username = n.slack.get("username") or o.get("username")
        if username:
            form["username"] = str(username)
        icon = n.slack.get("icon") or o.get("icon")
        if icon:
            icon = str(icon)
            form["icon_emoji" if icon.startswith(":") and icon.endswith(":") else "icon_url"] = icon
        for part in ("attachments", "blocks"):
            text = n.slack.get(part, "")
            if text.strip():
                try:
                    form[part] = json.dumps(json.loads(text))
                except ValueError as e:
                    raise DeliveryError(f"slack {part} are not valid JSON: {e}") from None
        if o.get("disableUnfurl"):
            form.update(unfurl_links="false", unfurl_media="false")
        key = n.slack.get("groupingKey", "")
        policy = n.slack.get("deliveryPolicy", "Post")
        ts = self.threads.get((channel, key), "") if key else ""
        if ts:
            form["thread_ts"] = ts
            if n.slack.get("notifyBroadcast"):
                form["reply_broadcast"] = "true"
        ctx = _tls(bool(o.get("insecureSkipVerify")))
        headers = {"Authorization": f"Bearer {o.get('token', '')}",
                   "Content-Type": "application/x-www-form-urlencoded"}
        if ts and policy in ("PostAndUpdate", "Update"):
            form.pop("thread_ts", None)
            form.pop("reply_broadcast", None)
            reply = self._slack_call(api + "chat.update", {**form, "ts": ts}, headers, ctx)
            return f"slack chat.update {channel}: ok ({reply.get('ts', ts)})"
        reply = self._slack_call(api + "chat.postMessage", form, headers, ctx)
        if key and not ts:
            self.threads[(channel, key)] = str(reply.get("ts", ""))
        return f"slack chat.postMessage {channel}: ok"

    def _slack_call(self, url: str, form: dict[str, str], headers: dict[str, str], ctx: ssl.SSLContext | None) -> Any:
        status, data = _http("POST", url, urllib.parse.urlencode(form).encode(), headers, ctx)
        try:
            reply = json.loads(data or b"{}")
        except ValueError:
            reply = {}
        if status != 200 or not reply.get("ok"):
            raise DeliveryError(f"slack {url.rsplit('/', 1)[-1]} to {form.get('channel')}: status {status}: "
                                f"{reply.get('error') or data[:200].decode(errors='replace')}")
        return reply


def _seconds(value: Any, default: float) -> float:
    """retryWait* as Go decodes a time.Duration from JSON (nanoseconds), or a duration string."""
    if value in (None, "", 0):
        return default
    if isinstance(value, int | float):
        return float(value) / 1e9
    return gv.parse_duration(str(value)) / 1e9


def _tls(insecure: bool) -> ssl.SSLContext | None:
    if not insecure:
        return None
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _http(method: str, url: str, body: bytes, headers: dict[str, str],
          ctx: ssl.SSLContext | None) -> tuple[int, bytes]:
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(f"{_redact_url(url)}: only http and https URLs are supported")
    req = urllib.request.Request(url, data=body if method != "GET" or body else None, method=method,
                                 headers=headers)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect)
    try:
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason


def _redact_url(url: str) -> str:
    """A URL without its query or user info (where webhook tokens usually sit)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
