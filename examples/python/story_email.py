""""Your story is ready" by email, when configured: SMTP_URL and SMTP_FROM (SMTP_USERNAME and
SMTP_PASSWORD if the server asks), STORY_EMAIL_TO (who gets it) and STORY_PUBLIC_URL (the base of
the link back to the story). Sent by a step of the story workflow: once per story, retried on an
SMTP 4xx or a network error, not on a 5xx."""

from __future__ import annotations

import html
import os

import storyloom


def email_story_ready(ctx: storyloom.Context, title: str) -> None:
    to = os.environ.get("STORY_EMAIL_TO")
    if not storyloom.email_configured() or not to:
        return
    base = os.environ.get("STORY_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    link = f"{base}/api/story/{ctx.run_id}/status"

    def send() -> dict:
        result = storyloom.send_email(
            to,
            f"Your story is ready: {title}",
            f'Your story "{title}" is written.',
            html=f"<p>Your story <strong>{html.escape(title)}</strong> is written.</p>",
            link=link,
            message_id=f"{ctx.run_id}.ready@storyloom",
        )
        return {"to": to, "message_id": result.message_id}

    ctx.step("email/ready", send)
