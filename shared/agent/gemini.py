"""Calls to Gemini's generateContent with bounded retries, within the turn's deadline."""

from __future__ import annotations

import logging
import time
from enum import StrEnum

import httpx2
from google import genai
from google.genai import errors, types

from shared.config import get_settings
from shared.instance import per_instance

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 2.0)
MIN_CALL_SECONDS = 2.0


class Failure(StrEnum):
    """Why the model gave no usable answer; each has its own reply to the user."""

    NOT_CONFIGURED = "not_configured"
    BUSY = "busy"
    TIMEOUT = "timeout"
    BLOCKED = "blocked"
    EMPTY = "empty"
    MALFORMED = "malformed"
    TOO_MANY_STEPS = "too_many_steps"
    REJECTED = "rejected"
    OVER_BUDGET = "over_budget"


class GeminiFailure(Exception):
    def __init__(self, failure: Failure, detail: str = "") -> None:
        self.failure = failure
        super().__init__(f"{failure.value}: {detail}")


@per_instance
def get_genai_client() -> genai.Client:
    """The google-genai client of this instance (needs GEMINI_API_KEY); retries are ours, not the SDK's."""
    settings = get_settings()
    if settings.gemini_api_key is None:
        raise GeminiFailure(Failure.NOT_CONFIGURED, "GEMINI_API_KEY is not set")
    options = types.HttpOptions(
        base_url=settings.gemini_base_url,
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=options)


def generate(
    contents: list[types.Content], config: types.GenerateContentConfig, deadline: float
) -> types.GenerateContentResponse:
    """One model answer, retrying 429/5xx/timeouts with backoff while the deadline (time.monotonic()) allows."""
    client = get_genai_client()
    model = get_settings().gemini_model
    for attempt in range(MAX_ATTEMPTS):
        remaining = deadline - time.monotonic()
        if remaining < MIN_CALL_SECONDS:
            raise GeminiFailure(Failure.TIMEOUT, "turn deadline reached")
        call_config = config.model_copy(update={"http_options": types.HttpOptions(timeout=int(remaining * 1000))})
        try:
            return client.models.generate_content(model=model, contents=contents, config=call_config)
        except errors.APIError as error:
            if error.code not in RETRYABLE_STATUS:
                raise GeminiFailure(Failure.REJECTED, f"{error.code} {error.status}") from error
            failure, detail = Failure.BUSY, f"{error.code} {error.status}"
        except httpx2.TimeoutException:
            failure, detail = Failure.TIMEOUT, "request timed out"
        except httpx2.TransportError as error:
            failure, detail = Failure.BUSY, type(error).__name__
        log.warning("Gemini attempt %d failed: %s", attempt + 1, detail)
        if attempt + 1 < MAX_ATTEMPTS:
            pause = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            if deadline - time.monotonic() - pause < MIN_CALL_SECONDS:
                break
            time.sleep(pause)
    raise GeminiFailure(failure, detail)
