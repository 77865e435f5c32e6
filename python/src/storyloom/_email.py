"""Email over SMTP (the engine's libcurl sender, through the C ABI): for steps that tell a
reader "your story is ready"."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import _native


@dataclass(frozen=True)
class EmailResult:
    smtp_status: int
    message_id: str


def email_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether SMTP_URL and SMTP_FROM are set, so send_email works without options."""
    env = os.environ if env is None else env
    return bool(env.get("SMTP_URL") and env.get("SMTP_FROM"))


def send_email(
    to: str | Sequence[str],
    subject: str,
    text: str,
    *,
    message_id: str,
    html: str | None = None,
    link: str | None = None,
    url: str | None = None,
    sender: str | None = None,
    username: str | None = None,
    password: str | None = None,
    require_starttls: bool | None = None,
    timeout_ms: int | None = None,
) -> EmailResult:
    """Sends one message (blocking, GIL released). Options left out come from SMTP_URL,
    SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD, SMTP_REQUIRE_STARTTLS. Raises a StoryloomError:
    retryable for an SMTP 4xx or a network error (so a step retries it), fatal for a 5xx or
    refused credentials. Call it inside ctx.step with a stable ``message_id``."""
    config = {
        "url": url,
        "from": sender,
        "username": username,
        "password": password,
        "require_starttls": require_starttls,
        "timeout_ms": timeout_ms,
    }
    message = {
        "to": to if isinstance(to, str) else list(to),
        "subject": subject,
        "text": text,
        "html": html,
        "link": link,
    }
    r = json.loads(_native.send_email(json.dumps(config), json.dumps(message), message_id))
    return EmailResult(r["smtp_status"], r["message_id"])
