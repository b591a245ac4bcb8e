"""Turning provider SDK failures into one-line :class:`ModelError` s, with secrets removed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ...errors import ModelError, one_line
from ...redaction import redact


def status_error(
    provider: str, status: int, detail: str, *, key_env: str, secrets: Iterable[str | None]
) -> ModelError:
    """A ModelError for an HTTP error status, saying what to do about it."""
    detail = one_line(redact(detail, secrets))
    if status == 401:
        return ModelError(
            f"{provider} rejected the API key (401); check {key_env}: {detail}",
            category="auth",
            is_permanent=True,
        )
    if status == 403:
        return ModelError(
            f"{provider} refused the request (403): {detail}", category="auth", is_permanent=True
        )
    if status == 404:
        return ModelError(f"{provider}: model or endpoint not found (404): {detail}", category="request")
    if status == 429:
        return ModelError(
            f"{provider} is rate limiting (429) and retries did not help; wait and try again: {detail}",
            category="rate_limit",
            is_permanent=False,
        )
    if status >= 500:
        return ModelError(
            f"{provider} server error ({status}) after retries: {detail}",
            category="server",
            is_permanent=False,
        )
    return ModelError(f"{provider} rejected the request ({status}): {detail}", category="request")


def _status_detail(exc: Any) -> str:
    """The server's own message from an error response (OpenAI and Anthropic both send
    ``{"error": {"message": ...}}``; the SDKs put the decoded body in ``exc.body``), else the
    SDK's text without its "Error code: N - " prefix."""
    body = getattr(exc, "body", None)
    for candidate in (body.get("error") if isinstance(body, dict) else None, body):
        if isinstance(candidate, dict) and isinstance(candidate.get("message"), str):
            return str(candidate["message"])
    return re.sub(r"^Error code: \d+ - ", "", str(getattr(exc, "message", exc)))


def _is_http(exc: Exception, base: str) -> bool:
    """Whether ``exc`` is an HTTP-library error of class ``base`` (or a subclass). By name: the
    SDKs are built on ``httpx`` or its successor ``httpx2``, which share the class tree."""
    return any(
        cls.__name__ == base and cls.__module__.partition(".")[0] in ("httpx", "httpx2")
        for cls in type(exc).__mro__
    )


def sdk_error(
    exc: Exception,
    sdk: Any,
    *,
    provider: str,
    name: str,
    base_url: str | None,
    timeout: float,
    key_env: str,
    secrets: Iterable[str | None],
) -> ModelError:
    """A ModelError for a failure while calling an official SDK (``sdk`` is the ``openai`` or
    ``anthropic`` module; both name their exceptions alike).

    Not every failure arrives wrapped in the SDK's own classes: once a stream is under way, a
    stalled or broken connection surfaces as the HTTP library's error, and a malformed event as
    whatever the SDK's parser tripped on. Each still becomes one line saying what happened."""
    secrets = tuple(secrets)
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, sdk.APIStatusError):
        return status_error(provider, exc.status_code, _status_detail(exc), key_env=key_env, secrets=secrets)
    if isinstance(exc, sdk.APITimeoutError) or _is_http(exc, "TimeoutException"):
        return ModelError(
            f"{name} did not answer within {timeout:g} s (after retries)",
            category="timeout",
            is_permanent=False,
        )
    if isinstance(exc, sdk.APIConnectionError) or _is_http(exc, "TransportError"):
        cause = exc.__cause__ if isinstance(exc, sdk.APIConnectionError) else None
        detail = one_line(redact(str(cause or exc), secrets)) or type(cause or exc).__name__
        return ModelError(
            f"lost the connection to {redact(base_url or provider)}: {detail}",
            category="connection",
            is_permanent=False,
        )
    if not isinstance(exc, sdk.APIError):
        # Raised while reading the stream, not by the SDK's request: the server sent an event the
        # SDK could not read (not JSON, or JSON of the wrong shape).
        detail = one_line(redact(f"{type(exc).__name__}: {exc}", secrets), 160)
        return ModelError(
            f"{redact(base_url or provider)} sent a malformed stream ({detail}); "
            "the answer was dropped, ask again",
            category="protocol",
            is_permanent=False,
        )
    return ModelError(f"{provider}: {one_line(redact(str(exc), secrets))}", category="model")


def cut_off(provider: str, base_url: str | None) -> ModelError:
    """A ModelError for a stream that ended without the provider's end-of-answer marker."""
    return ModelError(
        f"the stream from {redact(base_url or provider)} was cut off before the end of the answer",
        category="connection",
        is_permanent=False,
    )
