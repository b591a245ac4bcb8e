"""Credentials people actually paste or print, recognised by their shape alone (no key in the
environment), and ordinary text left as it was. The fake tokens are assembled at run time so that
no token-shaped string sits in the repository."""

from __future__ import annotations

import base64
import json

import pytest

from ipyagent.ledger import Ledger
from ipyagent.redaction import REDACTED, redact

ALNUM = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"  # 32 mixed characters, repeated below as needed


def fill(n: int, alphabet: str = ALNUM) -> str:
    return (alphabet * (n // len(alphabet) + 1))[:n]


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


JWT = ".".join([b64url({"alg": "HS256", "typ": "JWT"}), b64url({"sub": "42", "name": "Ada"}), fill(43)])
PEM_BODY = "\n".join(fill(64, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") for _ in range(3))

SHAPES = {
    "OpenAI project key": "sk-proj-" + fill(40),
    "Anthropic key": "sk-ant-api03-" + fill(40),
    "bearer token": "Bearer " + fill(30),
    "bearer token, lower case": "bearer " + fill(30),
    "GitHub classic token": "ghp_" + fill(36),
    "GitHub OAuth token": "gho_" + fill(36),
    "GitHub app token": "ghs_" + fill(36),
    "GitHub fine-grained token": "github_pat_" + fill(22) + "_" + fill(59),
    "AWS access key id": "AKIA" + fill(16, "QWERTYUIOPASDFGH23"),
    "AWS temporary key id": "ASIA" + fill(16, "ZXCVBNMLKJ456789"),
    "Slack bot token": "xoxb-1234567890-9876543210-" + fill(24),
    "Slack user token": "xoxp-1234567890-1234567890-1234567890-" + fill(32),
    "Slack webhook": "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/" + fill(24),
    "Hugging Face token": "hf_" + fill(34),
    "JSON Web Token": JWT,
    "RSA private key": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
    "PKCS#8 private key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----",
    "OpenSSH private key": (
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----"
    ),
    "encrypted private key": (
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{PEM_BODY}\n-----END ENCRYPTED PRIVATE KEY-----"
    ),
}


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("what", SHAPES)
def test_a_credential_alone_is_redacted_by_its_shape(what: str) -> None:
    secret = SHAPES[what]
    assert redact(secret) == REDACTED


@pytest.mark.parametrize("what", SHAPES)
def test_a_credential_inside_text_is_redacted_and_the_text_kept(what: str) -> None:
    secret = SHAPES[what]
    text = f"Here it is: {secret}\nUse it wisely."
    clean = redact(text)
    assert clean == f"Here it is: {REDACTED}\nUse it wisely."


def test_the_ledger_never_holds_a_shaped_credential() -> None:
    ledger = Ledger("main")
    printed = "\n".join(f"{what}: {secret}" for what, secret in SHAPES.items())
    token = SHAPES["GitHub classic token"]
    entry = ledger.append("tool_result", printed, time=0.0, arguments={"token": token})
    for what, secret in SHAPES.items():
        assert f"{what}: {REDACTED}" in entry.text
        assert secret[-12:] not in entry.text
    assert entry.arguments == {"token": REDACTED}


def test_a_private_key_cut_off_before_its_end_is_still_redacted() -> None:
    cut = "key file:\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + PEM_BODY[:100]
    assert redact(cut) == "key file:\n" + REDACTED


def test_an_aws_secret_next_to_its_name_keeps_the_name() -> None:
    secret = fill(40, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+")
    assert redact(f"aws_secret_access_key = {secret}") == f"aws_secret_access_key = {REDACTED}"
    assert redact(f'"AWS_SECRET_ACCESS_KEY": "{secret}"') == f'"AWS_SECRET_ACCESS_KEY": "{REDACTED}"'


ORDINARY = [
    "The bearer of this letter is a friend. Bearers of bad news were not thanked.",
    "Ask the bearer about the 3 keys.",
    "Skip the sk- prefix; tasks-list and desk-lamp are words.",
    "The night was through; ghp is not a word and neither is gh_ alone.",
    "AKIA is not a key; AKIAB is not either, nor is ASIAN FOOD TRUCKS.",
    "Asia and Akiak are places. THE AKIA PROJECT is a name.",
    "xox is a pattern of kisses; xoxo!",
    "hf_ is just a prefix, hf_model is short.",
    "eyJ is how '{\"' starts in base64, e.g. eyJhbGciOiJIUzI1NiJ9 alone is no token.",
    "A PRIVATE KEY is something you keep; begin and end it carefully.",
    "My secret is that I like tea. The access key is in the drawer.",
    "https://hooks.example.com/services/T1/B2/c3 is not Slack.",
    "version 1.2.3, sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "def f(x):\n    return x.bearer_token_name  # names, not values\n",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("length", [8, 9, 10, 11, 12, 13, 20, 31])
def test_unpadded_url_safe_base64_of_a_key_is_redacted_inside_text(length: int) -> None:
    """Whatever the key's length (and so its padding), its base64 forms go, also when text
    follows them directly."""
    key = "???" + fill(length - 3)  # "???" encodes as "Pz8/" (standard) and "Pz8_" (URL-safe)
    raw = key.encode()
    forms = {
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    for form in forms:
        text = f"encoded:{form}and more"
        clean = redact(text, extra=[key])
        assert form not in clean, form
        assert clean.startswith("encoded:") and clean.endswith("and more")


def test_the_shortest_shape_is_redacted() -> None:
    assert redact("Bearer x") == REDACTED  # 8 characters: the shortest text a shape can match
    assert redact("Bearer") == "Bearer"
