"""Webhooks: signed deliveries of run events to subscribed URLs (outbound), and checks of
signed webhooks other systems send in (inbound), per Standard Webhooks. The engine does the
work (C ABI); this module only translates names and types."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _native
from ._types import Run


@dataclass(frozen=True)
class WebhookSubscription:
    """Where and what to deliver. The secret stays in memory: pass it at every open.

    ``events``: "run.completed", "run.failed", "run.cancelled", "run.waiting", "progress",
    custom event types, or "*"; ``workflows``: runs of these only (empty: every workflow)."""

    id: str
    url: str
    secret: str = field(repr=False)
    workflows: Sequence[str] = ()
    events: Sequence[str] = ("run.completed", "run.failed", "run.cancelled")


@dataclass(frozen=True)
class WebhookAttempt:
    at_ms: int
    status: int  # the receiver's HTTP status; 0 when none came back
    latency_ms: int
    error: str | None  # why it failed; None when acknowledged


@dataclass(frozen=True)
class WebhookDelivery:
    webhook_id: str
    run_id: str  # the delivery's run: engine.retry(run_id) re-sends it
    subscription: str
    event_type: str
    event_id: int
    source_run_id: str
    state: str  # pending, delivered, dead or cancelled
    created_at_ms: int
    attempts: list[WebhookAttempt]

    @classmethod
    def _from(cls, d: dict[str, Any]) -> WebhookDelivery:
        return cls(
            webhook_id=d["webhook_id"],
            run_id=d["run_id"],
            subscription=d["subscription"],
            event_type=d["event_type"],
            event_id=d["event_id"],
            source_run_id=d["source_run_id"],
            state=d["state"],
            created_at_ms=d["created_at_ms"],
            attempts=[
                WebhookAttempt(a["at_ms"], a["status"], a["latency_ms"], a["error"]) for a in d["attempts"]
            ],
        )


@dataclass(frozen=True)
class WebhookVerdict:
    """200: authentic and fresh; 400: a header missing or malformed, or a stale timestamp;
    401: no signature matches."""

    status: int
    message: str

    @property
    def ok(self) -> bool:
        """Whether the webhook was accepted (status 200)."""
        return self.status == 200


@dataclass(frozen=True)
class InboundResult(WebhookVerdict):
    run: Run | None = None  # the run started or signalled; None when refused
    duplicate: bool = False  # the webhook id was seen before: nothing new happened


_HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


def headers_json(headers: Mapping[str, str]) -> str:
    lower = {str(k).lower(): v for k, v in headers.items()}
    return json.dumps({name: lower[name] for name in _HEADER_NAMES if isinstance(lower.get(name), str)})


def body_text(body: str | bytes) -> str:
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8")
    if isinstance(body, str):
        return body
    raise TypeError("webhook body must be str or bytes (the raw request body)")


def sign_webhook(secret: str, webhook_id: str, timestamp_s: int, body: str | bytes) -> str:
    """``"v1,<base64 HMAC-SHA256 of id.timestamp.body>"``; secret ``whsec_<base64>`` or text."""
    return _native.webhook_sign(secret, webhook_id, int(timestamp_s), body_text(body))


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: str | bytes,
    *,
    now_s: int = 0,
    tolerance_s: int = 300,
) -> WebhookVerdict:
    """Checks the signature (constant-time) and that the timestamp is within ``tolerance_s``
    of now (``now_s``, or the system clock when 0)."""
    d = json.loads(_native.webhook_verify(secret, headers_json(headers), body_text(body), now_s, tolerance_s))
    return WebhookVerdict(d["status"], d["message"])


def options_json(
    subscriptions: Sequence[WebhookSubscription],
    *,
    max_attempts: int | None,
    initial_backoff_ms: int | None,
    multiplier: float | None,
    max_backoff_ms: int | None,
    attempt_timeout_ms: int | None,
) -> str:
    subs = []
    for s in subscriptions:
        if not isinstance(s, WebhookSubscription):
            raise TypeError("configure_webhooks: subscriptions must be WebhookSubscription objects")
        subs.append(
            {"id": s.id, "url": s.url, "secret": s.secret, "workflows": list(s.workflows), "events": list(s.events)}
        )
    return json.dumps(
        {
            "subscriptions": subs,
            "max_attempts": max_attempts,
            "initial_backoff_ms": initial_backoff_ms,
            "multiplier": multiplier,
            "max_backoff_ms": max_backoff_ms,
            "attempt_timeout_ms": attempt_timeout_ms,
        }
    )


def hook_json(
    secret: str,
    *,
    workflow: str | None,
    owner: str | None,
    signal_run_id: str | None,
    signal_name: str | None,
    tolerance_s: int | None,
) -> str:
    return json.dumps(
        {
            "secret": secret,
            "workflow": workflow,
            "owner": owner,
            "signal_run_id": signal_run_id,
            "signal_name": signal_name,
            "tolerance_s": tolerance_s,
        }
    )


def inbound_result(text: str) -> InboundResult:
    d = json.loads(text)
    return InboundResult(
        d["status"], d["message"], Run._from(d["run"]) if d["run"] else None, bool(d["duplicate"])
    )
