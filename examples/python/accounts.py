"""Accounts of the story service, kept by the service (not in the engine's store): a
SQLite file (the standard library's sqlite3) of user names and argon2id password hashes
(argon2-cffi's PasswordHasher, its recommended parameters). The engine only ever sees a
user's id, as the owner of their runs. Sessions are Starlette's SessionMiddleware cookie,
signed with itsdangerous (see server.py)."""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 200


@dataclass(frozen=True)
class User:
    id: str  # random; the owner of the user's runs
    username: str


def check_credentials(body: Any) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """((username, password), {}) or (None, {field: error}); the password is never echoed."""
    if not isinstance(body, dict):
        return None, {"body": "must be a JSON object {username, password}"}
    errors = {
        k: "unknown field (expected username, password)"
        for k in body
        if k not in ("username", "password")
    }
    username = body.get("username")
    name = username.strip().lower() if isinstance(username, str) else ""
    if not name:
        errors["username"] = "is empty: choose a user name"
    elif not USERNAME.match(name):
        errors["username"] = (
            "must be 3 to 32 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit"
        )
    password = body.get("password")
    if not isinstance(password, str) or password == "":
        errors["password"] = "is empty"
    elif len(password) < MIN_PASSWORD:
        errors["password"] = f"must be at least {MIN_PASSWORD} characters"
    elif len(password) > MAX_PASSWORD:
        errors["password"] = f"must be at most {MAX_PASSWORD} characters"
    if errors:
        return None, errors
    return (name, password), {}


class Accounts:
    """Thread-safe: one connection behind a lock (sign-ups and sign-ins are rare)."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()  # argon2id
        # Verified when a name is unknown, so the answer takes as long either way.
        self._decoy = self._hasher.hash(secrets.token_hex(16))
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT NOT NULL "
                "UNIQUE, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)"
            )

    def create(self, username: str, password: str) -> User | None:
        """The new user, or None when the name is taken."""
        user = User(str(uuid.uuid4()), username)
        digest = self._hasher.hash(password)
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, strftime('%s','now'))",
                    (user.id, username, digest),
                )
        except sqlite3.IntegrityError:
            return None
        return user

    def check(self, username: str, password: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
            ).fetchone()
        try:
            self._hasher.verify(row[2] if row else self._decoy, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(row[0], row[1]) if row else None

    def by_id(self, user_id: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, username FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return User(*row) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
