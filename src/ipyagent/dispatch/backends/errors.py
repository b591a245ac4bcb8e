"""Turning provider SDK failures into one-line :class:`ModelError` s, with secrets removed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ModelError
from ...redaction import redact


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """A ModelError for a failure raised by an official SDK (``sdk`` is the ``openai`` or
    ``anthropic`` module; both name their exceptions alike)."""
    secrets = tuple(secrets)
    if isinstance(exc, sdk.APIStatusError):
        return status_error(provider, exc.status_code, str(exc.message), key_env=key_env, secrets=secrets)
    if isinstance(exc, sdk.APITimeoutError):
        return ModelError(
            f"{name} did not answer within {timeout:g} s (after retries)",
            category="timeout",
            is_permanent=False,
        )
    if isinstance(exc, sdk.APIConnectionError):
        return ModelError(
            f"lost the connection to {redact(base_url or provider)}: "
            f"{one_line(redact(str(exc.__cause__ or exc), secrets))}",
            category="connection",
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
