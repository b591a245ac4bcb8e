"""Keeping secrets out of everything the agent records, shows or tells a model.

A secret is the value of an environment variable whose name says it is one (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``...), a key a
backend was given directly (:func:`remember`), text shaped like a credential people leak (see
``_KEY_SHAPES``: OpenAI and Anthropic keys, bearer tokens, GitHub, AWS, Slack and Hugging Face
tokens, JSON Web Tokens, private keys), a password in a URL or a key in its query string.
:func:`redact` replaces each of them, and the base64 forms of known secrets, with ``[redacted]``.
The ledger, tool results and errors, and backend errors all pass through it, so a key read from
the environment by a tool, echoed by a server or printed by approved code never reaches the
ledger, a cell output, a log line or the model.

Per process (one kernel): the set of secrets is the process's environment and the keys its
backends were given.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
# Shorter values are not treated as secrets: they would redact ordinary words.
MIN_LENGTH = 8
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|ACCESS_?KEY|SECRET(?:_?KEY)?|TOKEN|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE
)
# Credential shapes, redacted even when the key is not ours. The prefixes and lengths follow what
# the providers document and what maintained secret scanners look for; each shape is anchored on
# a prefix no ordinary word has, so prose is left alone. Shapes come in groups behind plain
# substring tests that any match passes: a character every match holds ("" when none does:
# looking for one character costs next to nothing) and then hints, one of which any match
# contains. Most text holds none, and a substring test costs far less than a regular expression.
# The groups are applied in this order (a shape redacted first cannot hide the next one).
_KEY_SHAPES: tuple[tuple[str, tuple[str, ...], tuple[tuple[re.Pattern[str], str], ...]], ...] = (
    # OpenAI "sk-...", "sk-proj-...", Anthropic "sk-ant-..."; "*" covers the masked form some
    # providers echo back ("sk-ab****wxyz").
    ("-", ("sk-",), ((re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"), REDACTED),)),
    # An HTTP bearer token: "Bearer" as sent, or any case when what follows looks like a token
    # (long, with a digit), so "the bearer of this letter" stays.
    (
        "",
        ("earer", "EARER"),
        (
            (re.compile(r"\bBearer\s+\S+"), REDACTED),
            (re.compile(r"\b(?i:bearer)\s+(?=[A-Za-z_\-.~+/]*\d)[A-Za-z0-9_\-.~+/]{16,}=*"), REDACTED),
        ),
    ),
    (
        "",
        ("_",),
        (
            # GitHub: classic tokens (personal, OAuth, user-to-server, server-to-server, refresh)
            # and fine-grained personal access tokens.
            (re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"), REDACTED),
            (re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), REDACTED),
            # Hugging Face user access tokens.
            (re.compile(r"hf_[A-Za-z0-9]{30,}"), REDACTED),
            # An AWS secret access key written next to its name (the name stays).
            (
                re.compile(r"(?P<name>(?i:aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{40}"),
                r"\g<name>" + REDACTED,
            ),
        ),
    ),
    # AWS access key ids: long-term (AKIA) and temporary (ASIA).
    ("", ("IA",), ((re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),)),
    # Slack: bot, user, app and refresh tokens, and incoming-webhook URLs.
    ("-", ("xox",), ((re.compile(r"\bxox[abposre]-(?:[0-9]+-)+[A-Za-z0-9]+"), REDACTED),)),
    (
        "/",
        ("hooks.slack.com",),
        (
            (
                re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
                REDACTED,
            ),
        ),
    ),
    # A JSON Web Token: two base64url JSON objects ('{"' encodes as "eyJ") and a signature.
    ("", ("eyJ",), ((re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),)),
    # A private key, from its first line to its last (or to the end of a cut text).
    (
        "-",
        ("PRIVATE KEY",),
        (
            (
                re.compile(
                    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"
                ),
                REDACTED,
            ),
        ),
    ),
    (
        "-",
        ("PuTTY-User-Key-File",),
        ((re.compile(r"PuTTY-User-Key-File-\d:[\s\S]*?(?:Private-MAC: *[0-9a-fA-F]+|$)"), REDACTED),),
    ),
)
_SHORTEST_SHAPE = len("Bearer x")

# A password in a URL (``https://user:PASSWORD@host``) and a key in a query string.
_URL_SECRETS = re.compile(
    r"(?<=://)(?P<user>[^/\s:@]+):[^/\s@]+(?=@)|(?P<name>[?&](?:api[_-]?key|access[_-]?token|token)=)[^&\s#]+",
    re.IGNORECASE,
)

_lock = threading.Lock()
_remembered: set[str] = set()
# Invariant: _forms holds every variant of every current secret, longest first (so a form that
# contains another is replaced whole); it is rebuilt when the environment's size, the value of a
# variable named like a secret, or the remembered set change (see _current).
_fingerprint: tuple[object, ...] | None = None
_secrets: tuple[str, ...] = ()
_forms: tuple[str, ...] = ()


def remember(*secrets: str | None) -> None:
    """Treat these values (a key passed to a backend directly) as secrets from now on."""
    global _fingerprint
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= MIN_LENGTH:
                _remembered.add(secret)
        _fingerprint = None


def _secret_name(name: str) -> bool:
    return name in KEY_VARIABLES or _SECRET_NAME.search(name) is not None


def secret_variables(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """The names of the environment variables whose values are treated as secrets."""
    env = os.environ if environ is None else environ
    return sorted(name for name, value in env.items() if _secret_name(name) and len(value) >= MIN_LENGTH)


def variants(secret: str) -> list[str]:
    """The forms of a secret that are redacted: itself and its base64 encodings."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return list(dict.fromkeys([secret, b64, b64.rstrip("="), url, url.rstrip("=")]))


# os.environ.get() of a missing name raises and catches a KeyError inside, and len(os.environ) is
# a Python method: too slow for every redaction. CPython keeps the environment in a dict of
# encoded names; read that when it is there.
_RAW = getattr(os.environ, "_data", None)
_ENCODE = getattr(os.environ, "encodekey", None)
_ENVIRON: Mapping[Any, Any] = os.environ
_env_key: Callable[[str], object] = str
if isinstance(_RAW, dict) and _ENCODE is not None:
    _ENVIRON, _env_key = _RAW, _ENCODE
# The names (as _ENVIRON keys them) of the variables whose values the cache was built from: every
# variable named like a secret when it was built, whatever its value.
_watched: tuple[object, ...] = ()


def _fingerprint_now() -> tuple[object, ...]:
    """What the cache depends on: the environment's size, the remembered keys, and the values of
    the secret-named variables (a key replaced by another of the same name changes it)."""
    return (len(_ENVIRON), len(_remembered), *map(_ENVIRON.get, _watched))


def _current() -> tuple[str, ...]:
    global _fingerprint, _secrets, _forms, _watched
    if _fingerprint_now() == _fingerprint:
        return _forms
    with _lock:
        env = os.environ
        names = sorted(name for name in env if _secret_name(name))
        found = {env[name] for name in names if len(env[name]) >= MIN_LENGTH} | _remembered
        _secrets = tuple(sorted(found))
        _forms = tuple(sorted({v for s in _secrets for v in variants(s)}, key=len, reverse=True))
        _watched = tuple(map(_env_key, names))
        _fingerprint = _fingerprint_now()
        return _forms


def known_secrets() -> tuple[str, ...]:
    """Every value currently treated as a secret."""
    _current()
    return _secrets


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every secret (known, ``extra``, or shaped like a key) and its base64 forms
    replaced by ``[redacted]``."""
    if not text:
        return text
    # Plain substring tests first: most text holds no secret, and these cost little.
    for form in _current():
        if form in text:
            text = text.replace(form, REDACTED)
    for secret in extra:
        if secret and len(secret) >= 4:
            for form in sorted(variants(secret), key=len, reverse=True):
                text = text.replace(form, REDACTED)
    if "@" in text or "=" in text:
        text = _URL_SECRETS.sub(_url_redacted, text)
    if len(text) >= _SHORTEST_SHAPE:
        for character, hints, shapes in _KEY_SHAPES:
            if character not in text:
                continue
            for hint in hints:
                if hint in text:
                    for shape, replacement in shapes:
                        text = shape.sub(replacement, text)
                    break
    return text


def _url_redacted(match: re.Match[str]) -> str:
    if match.group("user") is not None:
        return f"{match.group('user')}:{REDACTED}"
    return f"{match.group('name')}{REDACTED}"


def redact_value(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
