"""storyloom: durable LLM story-generation workflows, embedded.

with storyloom.Engine("sqlite:./story.db") as engine:
    @engine.workflow("story")
    def story(ctx, input):
        outline = ctx.step("outline", lambda: make_outline(input["topic"]))
        approved = ctx.wait_for_signal("approve")
        return {"outline": outline}

    run = engine.start("story", {"topic": "a storm"})
"""

from ._engine import AsyncContext, Context, Engine, EventStream, RetryPolicy, event_to_sse, sse
from ._native import version as _version
from ._types import Artifact, Event, Run, RunPage, Snapshot, Step
from .errors import (
    Cancelled,
    Closed,
    FatalError,
    InternalError,
    InvalidArgument,
    InvalidState,
    Nondeterminism,
    NotADatabase,
    NotFound,
    PayloadTooLarge,
    SchemaTooNew,
    StepFailed,
    StoreError,
    StoryloomError,
    Timeout,
)

__version__ = _version()

__all__ = [
    "Artifact",
    "AsyncContext",
    "Cancelled",
    "Closed",
    "Context",
    "Engine",
    "Event",
    "EventStream",
    "FatalError",
    "InternalError",
    "InvalidArgument",
    "InvalidState",
    "Nondeterminism",
    "NotADatabase",
    "NotFound",
    "PayloadTooLarge",
    "RetryPolicy",
    "Run",
    "RunPage",
    "SchemaTooNew",
    "Snapshot",
    "Step",
    "StepFailed",
    "StoreError",
    "StoryloomError",
    "Timeout",
    "event_to_sse",
    "sse",
]
