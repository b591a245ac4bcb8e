"""Parsing %agent lines, keeping questions as messages, and running agent code like a cell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import TransformerManager

from ipyagent.kernel.approval import run_code
from ipyagent.magics import questions_stay_messages
from ipyagent.magics.magics import parse_agent_line


@pytest.mark.parametrize(
    ("line", "opts", "message"),
    [
        ("What is up?", {}, "What is up?"),
        ("--wait", {"wait": True}, ""),
        ("--wait --timeout 5 ", {"wait": True, "timeout": 5.0}, ""),
        ("--allow-code please run it", {"allow_code": True}, "please run it"),
        ("--resume", {"resume": True}, ""),
        ("--resume /tmp/x.sqlite", {"resume": True, "resume_path": "/tmp/x.sqlite"}, ""),
        ("--interrupt stop -- now", {"interrupt": True}, "stop -- now"),
        ("tell me about --wait flags", {}, "tell me about --wait flags"),
    ],
)
def test_options_come_first_and_the_rest_is_the_message(line: str, opts: dict, message: str) -> None:
    assert parse_agent_line(line) == (opts, message)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("--bogus hi", "unknown option --bogus"),
        ("--timeout x", "needs a number of seconds"),
        ("--timeout -1", "must be positive"),
    ],
)
def test_bad_options_say_what_is_wrong(line: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        parse_agent_line(line)


def test_a_question_mark_does_not_turn_a_message_into_a_help_request() -> None:
    manager = TransformerManager()
    manager.cleanup_transforms.append(questions_stay_messages)
    assert manager.transform_cell("%agent Is it sunny in Paris?") == (
        "get_ipython().run_line_magic('agent', 'Is it sunny in Paris?')\n"
    )
    assert manager.transform_cell("x = 1\n%agent what's x?\n").endswith(
        "get_ipython().run_line_magic('agent', \"what's x?\")\n"
    )
    # Other help requests and cell magics are left alone.
    assert "pinfo" in manager.transform_cell("zip?")
    assert (
        manager.transform_cell("%%agent\nwhy?\n") == "get_ipython().run_cell_magic('agent', '', 'why?\\n')\n"
    )


def test_agent_code_runs_like_a_cell() -> None:
    ns: dict = {}
    assert run_code("x = 6 * 7\nprint('computed')\nx", ns) == "computed\n42"
    assert ns["x"] == 42
    assert run_code("y = 1", ns) == "ran without output"
    with pytest.raises(NameError):
        run_code("undefined_name + 1", ns)
    with pytest.raises(SyntaxError):
        run_code("def (", ns)
