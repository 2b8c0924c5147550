"""One notification pass over an app, as notifications-engine's controller makes it: for every
subscribed trigger, run its conditions; send what newly fired, forget what turned false, and return
the deliveries with the new fired-keys state. Deciding (plan) is pure; send goes through services."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.notify.config import NotifyConfig, mask
from kubectl_gitops.notify.services import Delivery, DeliveryError, Sender
from kubectl_gitops.notify.subscriptions import Destination, destinations
from kubectl_gitops.notify.templates import Templates, variables
from kubectl_gitops.notify.triggers import ConditionResult, NotifiedState, run_trigger

Log = Callable[[str], None]


@dataclass(frozen=True)
class Planned:
    trigger: str
    result: ConditionResult
    destination: Destination


@dataclass(frozen=True)
class NotifyOutcome:
    deliveries: tuple[Delivery, ...]
    fired: dict[str, int]  # the fired keys to keep for the next pass

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if not d.ok)


def plan(cfg: NotifyConfig, app: Mapping[str, Any], project: Mapping[str, Any] | None, state: NotifiedState,
         now: int, log: Log) -> list[Planned]:
    """What to send now; `state` records the new keys and forgets those whose condition turned false."""
    out: list[Planned] = []
    trigger_vars = variables(cfg, app, project)
    for trigger, dests in destinations(cfg, app, project).items():
        if trigger not in cfg.triggers:
            log(f"warning: app {app.get('metadata', {}).get('name')}: subscribed trigger {trigger!r} is not "
                "configured")
            continue
        for result in run_trigger(cfg, trigger, trigger_vars, log):
            for dest in dests:
                if state.set_notified(trigger, result, dest, result.triggered, now) and result.triggered:
                    out.append(Planned(trigger, result, dest))
    return out


def notify(cfg: NotifyConfig, app: Mapping[str, Any], project: Mapping[str, Any] | None,
           fired: Mapping[str, int] | None, log: Log, *, sender: Sender | None = None,
           now: int | None = None) -> NotifyOutcome:
    """Send what the triggers say for `app`, given the keys fired before; failures are reported,
    never raised. A failed send forgets its key (so it is tried again), as Argo CD does."""
    templates = Templates(cfg)
    state = NotifiedState(dict(fired or {}))
    sender = sender or Sender(cfg.secret_values())
    deliveries = []
    for p in plan(cfg, app, project, state, int(time.time()) if now is None else now, log):
        d = deliver(cfg, templates, sender, app, project, p.destination, p.result.templates, p.trigger, log)
        if not d.ok:
            state.set_notified(p.trigger, p.result, p.destination, False, 0)
        deliveries.append(d)
    state.truncate()
    return NotifyOutcome(tuple(deliveries), state.keys)


def deliver(cfg: NotifyConfig, templates: Templates, sender: Sender, app: Mapping[str, Any],
            project: Mapping[str, Any] | None, dest: Destination, names: tuple[str, ...], trigger: str,
            log: Log) -> Delivery:
    """Render `names` for `dest` and send; the result says what happened (masked)."""
    from kubectl_gitops.errors import GitopsError

    name = (app.get("metadata") or {}).get("name", "")
    service = cfg.services.get(dest.service)
    try:
        if service is None:
            raise DeliveryError(f"notification service {dest.service!r} is not configured (known: "
                                f"{', '.join(sorted(cfg.services)) or 'none'})")
        n = templates.render(names, variables(cfg, app, project, service.type, dest.recipient))
        detail = sender.send(service, n, dest)
    except (DeliveryError, GitopsError) as e:
        text = mask(str(e), cfg.secret_values())
        log(f"warning: app {name}: notification {trigger or ','.join(names)} to {dest} failed: {text}")
        return Delivery(trigger, dest, names, False, text)
    log(f"app {name}: notified {dest} ({trigger or ','.join(names)}): {detail}")
    return Delivery(trigger, dest, names, True, detail)
