"""Secrets are removed wherever text enters the ledger: tool results, tool errors, any entry."""

from __future__ import annotations

import base64
import uuid

import pytest

from ipyagent.dispatch.tasks import MAX_RESULT_CHARS, error_text, result_text
from ipyagent.ledger import Ledger
from ipyagent.redaction import REDACTED, known_secrets, redact, remember, secret_variables

KEY = "plain-canary-5f2e9a7c41d38b06"  # not shaped like a provider key: only its value gives it away


@pytest.fixture(autouse=True)
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_secret_variables_are_found_by_name() -> None:
    env = {
        "OPENAI_API_KEY": KEY,
        "HF_TOKEN": "hf_abcdefghijkl",
        "MY_SERVICE_SECRET": "s3cr3t-value",
        "DB_PASSWORD": "hunter2hunter2",
        "MAX_TOKENS": "1024000000",  # a number of tokens, not a token
        "SHORT_TOKEN": "abc",  # too short to redact safely
        "PATH": "/usr/bin",
    }
    assert secret_variables(env) == ["DB_PASSWORD", "HF_TOKEN", "MY_SERVICE_SECRET", "OPENAI_API_KEY"]


def test_the_key_and_its_base64_forms_are_redacted() -> None:
    raw = KEY.encode()
    text = (
        f"key={KEY} b64={base64.b64encode(raw).decode()} url={base64.urlsafe_b64encode(raw).decode()} "
        "shaped=sk-ant-api03-abcdefgh Authorization: Bearer xyz.abc"
    )
    clean = redact(text)
    assert KEY not in clean
    assert base64.b64encode(raw).decode().rstrip("=") not in clean
    assert "sk-ant" not in clean and "xyz.abc" not in clean
    assert clean.count(REDACTED) == 5
    assert redact("nothing secret here") == "nothing secret here"


def test_a_key_given_to_a_backend_directly_is_remembered() -> None:
    direct = f"direct-canary-{uuid.uuid4().hex}"  # new each time: remembered keys stay for the process
    assert direct not in known_secrets()
    remember(direct)
    assert direct in known_secrets()
    assert redact(f"echo {direct}") == f"echo {REDACTED}"


def test_tool_results_and_errors_lose_the_key_before_being_cut() -> None:
    assert KEY not in result_text({"env": {"OPENAI_API_KEY": KEY}})
    # The key straddles the cut: no prefix of it may survive.
    long = "x" * (MAX_RESULT_CHARS - 5) + KEY
    assert KEY[:5] not in result_text(long)[MAX_RESULT_CHARS - 10 :]
    assert error_text(RuntimeError(f"failed with {KEY}\nmore")) == f"RuntimeError: failed with {REDACTED}"


def test_no_entry_of_the_ledger_holds_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.append("user", f"my key is {KEY}", time=0.0)
    ledger.append("tool_call", "", time=0.0, name="t", arguments={"token": KEY, "n": [1, KEY]})
    assert all(KEY not in e.to_json() for e in ledger)
    assert ledger[1].arguments == {"token": REDACTED, "n": [1, REDACTED]}
    assert ledger.store is not None
    ledger.store.close()
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes()


def test_session_folders_are_private(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from ipyagent.kernel.paths import new_session_file

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    monkeypatch.setenv("IPYAGENT_SESSION_DIR", str(data / "ipyagent" / "sessions"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "work" / "notes.ipynb"))
    file = new_session_file()
    for folder in (file.parent, file.parent.parent, file.parent.parent.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert data.stat().st_mode & 0o777 == 0o755  # what existed is left as it was


def test_passwords_and_keys_in_urls_are_redacted() -> None:
    text = "openai:m@https://alice:hunter2-pass@llm.example.com/v1?api_key=abc123&x=1 and ?token=zzz"
    assert redact(text) == (
        f"openai:m@https://alice:{REDACTED}@llm.example.com/v1?api_key={REDACTED}&x=1 and ?token={REDACTED}"
    )


def test_a_password_in_a_base_url_stays_out_of_the_backend_name() -> None:
    from ipyagent.dispatch.backends.anthropic import AnthropicBackend
    from ipyagent.dispatch.backends.openai import OpenAIBackend

    url = "https://bob:pa55word-xyz@llm.example.com/v1"
    for backend in (OpenAIBackend("m", base_url=url), AnthropicBackend("m", base_url=url)):
        assert "pa55word" not in backend.name and "bob:" in backend.name
        assert "pa55word" not in repr(backend)


def test_values_shorter_than_eight_characters_are_not_secrets() -> None:
    short = uuid.uuid4().hex[:7]
    remember(short, None, "")
    assert short not in known_secrets()
    assert redact(f"the word {short} stays") == f"the word {short} stays"
    assert secret_variables({"MY_TOKEN": "12345678", "OTHER_TOKEN": "1234567"}) == ["MY_TOKEN"]


def test_a_secret_that_contains_another_is_redacted_whole() -> None:
    # Starts with a lower-case letter, so it sorts after the upper-case outer one: sorting the
    # secrets by anything but their length would replace it first and leave "A[redacted]Z".
    inner = "k" + uuid.uuid4().hex
    outer = "A" + inner + "Z"
    remember(inner, outer)
    assert redact(f"key={outer};") == f"key={REDACTED};"


def test_a_remembered_value_of_exactly_eight_characters_is_a_secret() -> None:
    eight = uuid.uuid4().hex[:8]
    remember(eight)
    assert eight in known_secrets()
    assert redact(f"the word {eight} goes") == f"the word {REDACTED} goes"


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "MY_SERVICE_TOKEN"])
def test_a_key_replaced_by_another_under_the_same_name_is_redacted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook that sets a new key (``os.environ[name] = ...``) in place of the old one: the
    environment keeps its size, and the new key must still be recognised."""
    first = f"first-{uuid.uuid4().hex}"
    monkeypatch.setenv(name, first)
    assert redact(f"using {first}") == f"using {REDACTED}"
    second = f"second-{uuid.uuid4().hex}"
    monkeypatch.setenv(name, second)
    assert redact(f"using {second}") == f"using {REDACTED}"
    # A value too short to be a secret that grows into one counts from then on.
    monkeypatch.setenv(name, "short")
    assert redact("using short") == "using short"
    longer = f"longer-{uuid.uuid4().hex}"
    monkeypatch.setenv(name, longer)
    assert redact(f"using {longer}") == f"using {REDACTED}"


def test_extra_secrets_of_four_characters_or_more_are_redacted_with_their_encodings() -> None:
    assert redact("pin 4821 and 482", extra=["4821"]) == f"pin {REDACTED} and 482"
    assert redact("pin 482 stays", extra=["482", None, ""]) == "pin 482 stays"
    # Its padded base64 goes whole: no "=" is left after the redaction.
    secret = "extra-" + uuid.uuid4().hex[:11]  # 17 bytes: the encoding ends in "="
    padded = base64.b64encode(secret.encode()).decode()
    assert padded.endswith("=")
    assert redact(f"sent {padded} then", extra=[secret]) == f"sent {REDACTED} then"
    url = base64.urlsafe_b64encode(secret.encode()).decode()
    assert redact(f"[{url}]", extra=[secret]) == f"[{REDACTED}]"


def test_a_key_in_a_query_string_is_redacted_without_a_password_in_the_url() -> None:
    assert (
        redact("GET /v1/models?api_key=abc123xyz HTTP/1.1") == f"GET /v1/models?api_key={REDACTED} HTTP/1.1"
    )
    assert redact("no query here, just a@b.c") == "no query here, just a@b.c"


def test_an_environment_value_of_eight_characters_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    eight = uuid.uuid4().hex[:8]
    monkeypatch.setenv("EIGHT_CHAR_TOKEN", eight)
    assert "EIGHT_CHAR_TOKEN" in secret_variables()  # read from the process's environment
    assert eight in known_secrets()
    assert redact(f"token {eight}.") == f"token {REDACTED}."
