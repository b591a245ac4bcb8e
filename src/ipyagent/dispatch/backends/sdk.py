"""What the backends on an official provider SDK (OpenAI, Anthropic) share: the model's name and
where it is served, the API key (remembered so that it is redacted everywhere), the SDK's client
made on first use and closed with the backend, and the SDK's failures as one-line
:class:`~ipyagent.errors.ModelError` s with the key removed."""

from __future__ import annotations

import os
from typing import Any, ClassVar, TypedDict

from ...clock import Clock, RealClock
from ...errors import ModelError
from ...redaction import redact, remember
from .errors import cut_off, sdk_error


class Connection(TypedDict, total=False):
    """How to reach the provider: each backend's keyword arguments besides its own."""

    base_url: str | None  # another server than the provider's (any OpenAI-compatible one)
    api_key: str | None  # else the key from ``key_env``
    clock: Clock | None
    timeout: float  # seconds a request may take (60)
    max_retries: int  # retries of failed requests, with backoff, by the SDK (3)


class SdkBackend:
    """A backend that streams through a provider's official SDK. Subclasses set the class
    fields and :meth:`new_client`, and stream with ``self.client()``."""

    provider: ClassVar[str]  # "OpenAI": in messages; its lower case is the spec's prefix
    key_env: ClassVar[str]  # where the key comes from when none is given
    spec_hint: ClassVar[str]  # how a model is named, for the error when none is
    # An OpenAI-compatible server given by URL (llama.cpp, vLLM, Ollama) usually needs no key.
    keyless_with_url: ClassVar[bool] = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        if not model:
            raise ModelError(f"an {self.provider} model needs a name: {self.spec_hint}")
        self.model = model
        self.base_url = base_url
        # Shown to the user and written to the ledger: never with a password the URL may hold.
        self.name = f"{self.provider.lower()}:{model}" + (f"@{redact(base_url)}" if base_url else "")
        self._api_key = api_key
        self.clock = clock or RealClock()
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None

    def key(self) -> str:
        key = self._api_key or os.environ.get(self.key_env)
        if key:
            remember(key)
            return key
        if self.keyless_with_url and self.base_url:
            return "no-key"
        raise ModelError(f"{self.key_env} is not set; set it to use {self.name}", category="auth")

    def new_client(self, key: str) -> Any:
        """The SDK's async client, for ``key``."""
        raise NotImplementedError

    def client(self) -> Any:
        if self._client is None:
            self._client = self.new_client(self.key())
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections; the next request opens new ones."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def failure(self, exc: Exception, sdk: Any) -> ModelError:
        """``exc``, raised while calling the SDK (the ``openai`` or ``anthropic`` module) or
        reading its stream, as one line for the user, with the key removed."""
        return sdk_error(
            exc,
            sdk,
            provider=self.provider,
            name=self.name,
            base_url=self.base_url,
            timeout=self.timeout,
            key_env=self.key_env,
            secrets=(self._api_key, os.environ.get(self.key_env)),
        )

    def cut_off(self) -> ModelError:
        """The stream ended without the provider's end-of-answer marker."""
        return cut_off(self.provider, self.base_url)
