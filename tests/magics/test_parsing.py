"""Parsing magic options (%agent's above all), keeping questions as messages, and running agent
code like a cell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.interactiveshell import InteractiveShell

from ipyagent.kernel.approval import run_code
from ipyagent.magics import load_ipython_extension, questions_stay_messages, unload_ipython_extension
from ipyagent.magics.magics import parse_agent_line


@pytest.mark.parametrize(
    ("line", "opts", "message"),
    [
        ("What is up?", {}, "What is up?"),
        ("--wait", {"wait": True}, ""),
        ("--wait --timeout 5 ", {"wait": True, "timeout": 5.0}, ""),
        ("--allow-code please run it", {"allow_code": True}, "please run it"),
        ("--resume", {"resume": ""}, ""),
        ("--resume /tmp/x.sqlite", {"resume": "/tmp/x.sqlite"}, ""),
        ("--interrupt stop -- now", {"interrupt": True}, "stop -- now"),
        ("tell me about --wait flags", {}, "tell me about --wait flags"),
        # The message is kept as typed: quotes, apostrophes, runs of spaces, `--`, `-x` inside it.
        ("""--wait don't say "hi"  -- or 'bye' -x""", {"wait": True}, """don't say "hi"  -- or 'bye' -x"""),
        ('she said "unfinished', {}, 'she said "unfinished'),
        ("-- --wait is a flag?", {}, "--wait is a flag?"),  # `--` ends the options
        ("--interrupt -- -1 degrees?", {"interrupt": True}, "-1 degrees?"),
        ("-1 degrees, will it freeze?", {}, "-1 degrees, will it freeze?"),
        ("--timeout=5 --wait", {"wait": True, "timeout": 5.0}, ""),
    ],
)
def test_options_come_first_and_the_rest_is_the_message(line: str, opts: dict, message: str) -> None:
    args = parse_agent_line(line)
    assert args.message == message
    defaults = vars(parse_agent_line(""))
    assert {k: v for k, v in vars(args).items() if k != "message" and v != defaults[k]} == opts


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("--bogus hi", "%agent: unknown option --bogus; see %agent --help"),
        ("--wai hi", "%agent: unknown option --wai; see %agent --help"),  # no abbreviations
        ("-v hi", "%agent: unknown option -v; see %agent --help"),
        ("--timeout x", "%agent --timeout: needs a number of seconds, such as 60, got 'x'; see %agent"),
        ("--timeout -1", "%agent --timeout: must be a positive, finite number of seconds, got '-1'; see"),
        ("--timeout nan", "%agent --timeout: must be a positive, finite number of seconds, got 'nan'; see"),
        ("--timeout", "%agent --timeout: expected one argument; see %agent --help"),
    ],
)
def test_bad_options_say_what_is_wrong_in_one_line(line: str, error: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_agent_line(line)
    assert str(caught.value).startswith(error)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("magic", "line", "error"),
    [
        ("agent", "--wait --timeout soon", "%agent --timeout: needs a number of seconds"),
        ("voice", "--tts robot", "%voice --tts: invalid choice: 'robot'"),
        ("voice", "--tts", "%voice --tts: expected one argument; usage: %voice [--tts piper|espeak|gtts]"),
        ("ledger", "main other", "%ledger: unexpected 'other'; usage: %ledger [--system] [--text] [NAME]"),
        ("ledger", "--sytem", "%ledger: unknown option --sytem; usage: %ledger [--system] [--text] [NAME]"),
        ("timeline", "--txt", "%timeline: unknown option --txt; usage: %timeline [--text]"),
        ("tools", "all", "%tools takes no arguments"),
        ("cancel", "", "%cancel: missing NAME; usage: %cancel NAME"),
        ("fork", "a b", "%%fork: unexpected 'b'; usage: %%fork [NAME]"),
        ("fork", "no/slash", "%%fork NAME: give the sub-agent a name of"),
    ],
)
def test_a_bad_option_is_one_line_in_the_shell(magic: str, line: str, error: str) -> None:
    """Through IPython itself: the user sees one UsageError line, not argparse's exit."""
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)

    def run(magic: str, line: str) -> None:
        if magic == "fork":
            shell.run_cell_magic(magic, line, "task")
        else:
            shell.run_line_magic(magic, line)

    try:
        with pytest.raises(UsageError) as caught:
            run(magic, line)
        assert str(caught.value).startswith(error), (magic, line, str(caught.value))
        assert "\n" not in str(caught.value)
    finally:
        unload_ipython_extension(shell)
        InteractiveShell.clear_instance()


def test_help_shows_each_magics_options() -> None:
    """What `%agent?` shows (IPython's own inspector): the description, then each option with its
    help."""
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    try:
        agent = shell.object_inspect_text("%agent")
        assert "%agent [--interrupt] [--wait] [--timeout S]" in agent
        assert "--timeout S" in agent and "with --wait: give up after S seconds" in agent
        assert "Options come first" in agent  # the description
        assert "--tts piper|espeak|gtts" in shell.object_inspect_text("%voice")
        assert "--system" in shell.object_inspect_text("%ledger")
        mcp = shell.object_inspect_text("%mcp")
        assert "%mcp add NAME [OPTIONS] -- COMMAND ARGS..." in mcp and "--startup-timeout S" in mcp
        assert "%%fork [NAME]" in shell.object_inspect_text("%%fork")
    finally:
        unload_ipython_extension(shell)
        InteractiveShell.clear_instance()


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


def test_a_bad_option_with_a_control_character_is_shown_escaped() -> None:
    # What the user typed (or pasted) comes back readable, on one line, never as a raw byte.
    with pytest.raises(UsageError) as caught:
        parse_agent_line("--help --help --help\x00 ")
    message = str(caught.value)
    assert "\\x00" in message and "\x00" not in message
    assert message.isprintable()
