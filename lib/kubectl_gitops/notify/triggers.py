"""Trigger evaluation and notifications-engine's edge-triggered state: a condition fires when it is
true and its key ([oncePer:]trigger:[i].sha1(when):service:recipient) has not fired; the key is
forgotten when the condition turns false, unless it has a oncePer value. Pure."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.config import NotifyConfig
from kubectl_gitops.notify.exprrun import ExprError, evaluate
from kubectl_gitops.notify.subscriptions import Destination

HISTORY_MAX = 100  # notifications-engine keeps at most this many keys, dropping the oldest
NOTIFIED_ANNOTATION = "notified.notifications.argoproj.io"


@dataclass(frozen=True)
class ConditionResult:
    key: str  # [i].<base64url(sha1(when))>
    once_per: str
    templates: tuple[str, ...]
    triggered: bool
    description: str = ""
    error: str = ""  # why the condition could not be evaluated (it did not fire)


def condition_key(index: int, when: str) -> str:
    digest = hashlib.sha1(when.encode(), usedforsecurity=False).digest()
    return f"[{index}].{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def run_trigger(cfg: NotifyConfig, name: str, variables: dict[str, Any],
                log: Callable[[str], None]) -> list[ConditionResult]:
    """Each condition's result; an error or a non-boolean result does not fire (and is logged)."""
    if name not in cfg.triggers:
        raise GitopsError(f"trigger {name!r} is not configured (known: {', '.join(sorted(cfg.triggers)) or 'none'})")
    results = []
    for i, cond in enumerate(cfg.triggers[name]):
        error, once_per = "", ""
        try:
            value = evaluate(cond.when_ast, variables)
            triggered = value is True
            if not isinstance(value, bool):
                error = f"when returned {gv.go_str(value)}, not a boolean"
        except ExprError as e:
            triggered, error = False, str(e)
        if error:
            log(f"warning: trigger {name} condition [{i}]: {error} (not fired)")
        if triggered and cond.once_per_ast is not None:
            try:
                once_per = gv.go_str(evaluate(cond.once_per_ast, variables))
            except ExprError as e:
                log(f"warning: trigger {name} condition [{i}] oncePer: {e}")
        results.append(ConditionResult(condition_key(i, cond.when), once_per, cond.send, triggered,
                                       cond.description, error))
    return results


def state_key(trigger: str, result: ConditionResult, dest: Destination) -> str:
    key = f"{trigger}:{result.key}:{dest.service}:{dest.recipient}"
    return f"{result.once_per}:{key}" if result.once_per else key


class NotifiedState:
    """Fired keys → unix time of the notification, as the notified.notifications.argoproj.io
    annotation holds them."""

    def __init__(self, keys: dict[str, int] | None = None) -> None:
        self.keys: dict[str, int] = dict(keys or {})

    @classmethod
    def from_json(cls, text: str | None) -> NotifiedState:
        try:
            doc = json.loads(text) if text else {}
        except ValueError:
            return cls()  # as notifications-engine: an unreadable state starts empty
        return cls({k: int(v) for k, v in doc.items() if isinstance(v, int | float)} if isinstance(doc, dict) else {})

    def to_json(self) -> str:
        self.truncate()
        return json.dumps(self.keys, sort_keys=True, separators=(",", ":"))

    def set_notified(self, trigger: str, result: ConditionResult, dest: Destination, notified: bool,
                     now: int) -> bool:
        """Record (or forget) a key; True when that changed the state."""
        key = state_key(trigger, result, dest)
        if (key in self.keys) == notified:
            return False
        if notified:
            self.keys[key] = now
            return True
        if result.once_per:
            return False
        del self.keys[key]
        return True

    def truncate(self, limit: int = HISTORY_MAX) -> None:
        if len(self.keys) > limit:
            for key in sorted(self.keys, key=lambda k: self.keys[k])[:len(self.keys) - limit]:
                del self.keys[key]
