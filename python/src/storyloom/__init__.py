"""storyloom: durable LLM story-generation workflows, embedded.

with storyloom.Engine("sqlite:./story.db") as engine:
    @engine.workflow("story", retries=storyloom.RetryPolicy(max_attempts=3))
    def story(ctx, input):
        outline = ctx.llm("outline", f"Outline a story about {input['topic']}").text
        approved = ctx.wait_for_signal("approve")
        return {"outline": outline}

    engine.launch()  # once every workflow is registered: no run executes before
    run = engine.start("story", {"topic": "a storm"})
"""

from ._budget import BudgetStatus, ModelUsage, RunBudget, RunUsage
from ._config import ImageConfig, ImageProviderConfig, LlmConfig, LlmProviderConfig, ResourceLimits
from ._engine import AsyncContext, Context, Engine, EventStream, event_to_sse, sse
from ._http import HttpHeader, HttpResult, StepRetry
from ._image import ImageResult
from ._llm import LlmMessage, LlmResult, LlmUsage
from ._native import version as _version
from ._options import Concurrency, RetryPolicy, Throttle
from ._email import EmailResult, email_configured, send_email
from ._webhooks import (
    InboundResult,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WebhookVerdict,
    sign_webhook,
    verify_webhook,
)
from ._types import (
    Artifact,
    Event,
    LlmProviderInfo,
    LlmProviders,
    ResourceStatus,
    Run,
    RunPage,
    Snapshot,
    Step,
)
from .errors import (
    BudgetExceeded,
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
    ProviderError,
    QuotaExceeded,
    RateLimited,
    SchemaTooNew,
    StepFailed,
    StoreError,
    StoryloomError,
    Timeout,
    WorkflowFailed,
)

__version__ = _version()

__all__ = [
    "EmailResult",
    "email_configured",
    "send_email",
    "InboundResult",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "WebhookVerdict",
    "sign_webhook",
    "verify_webhook",
    "Artifact",
    "AsyncContext",
    "BudgetExceeded",
    "BudgetStatus",
    "Cancelled",
    "Closed",
    "Concurrency",
    "Context",
    "Engine",
    "Event",
    "EventStream",
    "FatalError",
    "HttpHeader",
    "HttpResult",
    "ImageConfig",
    "ImageProviderConfig",
    "ImageResult",
    "InternalError",
    "InvalidArgument",
    "InvalidState",
    "LlmConfig",
    "LlmMessage",
    "LlmProviderConfig",
    "LlmProviderInfo",
    "LlmProviders",
    "LlmResult",
    "LlmUsage",
    "ModelUsage",
    "Nondeterminism",
    "NotADatabase",
    "NotFound",
    "PayloadTooLarge",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "ResourceLimits",
    "ResourceStatus",
    "RetryPolicy",
    "Run",
    "RunBudget",
    "RunPage",
    "RunUsage",
    "SchemaTooNew",
    "Snapshot",
    "Step",
    "StepFailed",
    "StepRetry",
    "StoreError",
    "StoryloomError",
    "Throttle",
    "Timeout",
    "WorkflowFailed",
    "event_to_sse",
    "sse",
]
