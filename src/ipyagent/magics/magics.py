"""The agent magics. Each one is a thin layer over :class:`~ipyagent.kernel.session.NotebookSession`;
a mistake is reported as one line (an IPython ``UsageError``), never a traceback."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

if TYPE_CHECKING:
    from ..agents.subagents import SubAgentHow
    from ..kernel.session import NotebookSession

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

HELP = """\
ipyagent magics — talk to the notebook's agent; it answers in the cell's output area and keeps
working in the background (the cell returns at once).

  %agent MESSAGE            send a message; this cell shows the exchange live
  %%agent                   the same, with the message in the cell body
  %agent --interrupt MSG    cut the agent off, then send
  %agent --wait             block this cell until the agent is idle with nothing running
         [--timeout S]      (default 600 s), or until it asks you to approve code; useful for
                            "Run all" and headless runs
  %agent --resume [PATH]    after a kernel restart: bring back this notebook's last session
  %agent --allow-code       let the agent run Python in this notebook without asking
  %agent --ask-code         ask again before each run (the default)
  %agent --help             this text

  %%fork NAME               a sub-agent that knows the conversation so far; its task is the cell
  %%spawn NAME              a fresh sub-agent that knows only its task; this cell is its live view
  %agents [--text]          the agent tree, live: each agent's status, state, running tasks and
                            a cancel button (--text: a snapshot as text)
  %ledger [NAME]            an agent's ledger, live (NAME: main, a sub-agent name or path):
         [--system] [--text]  entries by role, tool calls with status, filters; --text or
                            --system (with the system message): one line per entry
  %chat                     a chat box: typing while the agent talks interrupts it
  %timeline [--text]        the agents' states and tool calls over time
  %voice [--tts piper|espeak|gtts]  talk through the microphone; the agent answers aloud
  %notifications [--text]   tool results, errors and sub-agent reports as they arrive
  %interrupt                stop what the agents are saying now (tools keep running); the Jupyter
                            interrupt button does the same in the ipyagent kernel
  %cancel NAME              stop an agent and everything under it
  %model [SPEC]             show or switch the model: local, openai:MODEL, anthropic:MODEL,
                            openai:MODEL@BASE_URL, scripted:PATH
  %tools                    the tools the agent can call; define more with @tool in any cell
  %mcp                      MCP servers: their state and tools; %mcp add NAME -- COMMAND ARGS...,
                            %mcp add NAME URL, %mcp remove NAME (%mcp --help for options)
  %approve [ID] / %deny [ID]  answer the agent's request to run code in this notebook

Conversations are stored per notebook session in SQLite under $IPYAGENT_SESSION_DIR
(default: <jupyter data dir>/ipyagent/sessions/<notebook>-<hash>/).
The live views are widgets; where widgets cannot render (nbconvert, a terminal) they show as text.
"""

_OPTIONS = {
    "--help",
    "--resume",
    "--allow-code",
    "--ask-code",
    "--wait",
    "--timeout",
    "--interrupt",
}


VOICES = ("piper", "espeak", "gtts")


def one_line_errors(fn: F) -> F:
    """Turn any failure of a magic into a one-line UsageError (the details go to the log)."""
    from ..errors import IpyagentError, one_line

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UsageError, IpyagentError) as exc:
            raise UsageError(one_line(str(exc), 400)) from None
        except Exception as exc:
            log.exception("ipyagent magic %s failed", fn.__name__)
            raise UsageError(one_line(f"ipyagent: {type(exc).__name__}: {exc}", 400)) from None

    return wrapper  # type: ignore[return-value]


def parse_agent_line(line: str) -> tuple[dict[str, Any], str]:
    """Split ``%agent`` options (only at the start) from the message."""
    from ..errors import one_line

    opts: dict[str, Any] = {}
    rest = line.strip()
    while rest.startswith("--"):
        token, after = _split(rest)
        if token not in _OPTIONS:
            raise UsageError(f"%agent: unknown option {one_line(token, 60)}; see %agent --help")
        if token == "--timeout":
            value, after = _split(after)
            try:
                opts["timeout"] = float(value)
            except ValueError:
                raise UsageError(
                    f"%agent --timeout needs a number of seconds, got {one_line(value, 60)!r}"
                ) from None
            if not 0 < opts["timeout"] < math.inf:
                raise UsageError(
                    "%agent --timeout must be positive and finite: a number of seconds, such as 60"
                )
        elif token == "--resume":
            opts["resume"] = True
            if after and not after.startswith("--"):
                opts["resume_path"], after = _split(after)
        else:
            opts[token[2:].replace("-", "_")] = True
        rest = after
    return opts, rest


def _split(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest (both stripped); words are split by any whitespace."""
    parts = text.strip().split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else ((parts[0], "") if parts else ("", ""))


TOOLS_WIDTH = 100  # characters per line of %tools (JupyterLab's output shows ~110 at 1400 px)


def tool_table(rows: list[tuple[str, str, str]], width: int = TOOLS_WIDTH) -> str:
    """Name, origin and description of each tool; a long description wraps between words under
    its own column, so the browser never has to break it mid-word."""
    import textwrap

    name_w = max([len(r[0]) for r in rows] + [4])
    place_w = max([len(r[1]) for r in rows] + [8])  # "built-in", "notebook", an MCP server's name
    lead = name_w + 2 + place_w + 2
    out = []
    for name, where, text in rows:
        wrapped = textwrap.wrap(text, max(30, width - lead), break_long_words=False) or [""]
        out.append(f"{name:<{name_w}}  {where:<{place_w}}  {wrapped[0]}".rstrip())
        out += [" " * lead + more for more in wrapped[1:]]
    return "\n".join(out)


@magics_class
class AgentMagics(Magics):
    """``%agent``, ``%%fork``, ``%%spawn``, ``%agents``, ``%ledger``, ``%chat``, ``%timeline``,
    ``%notifications``, ``%interrupt``, ``%cancel``, ``%model``, ``%tools``, ``%approve``, ``%deny``."""

    def __init__(self, shell: Any, session: Callable[[], NotebookSession]) -> None:
        super().__init__(shell)
        self._session = session

    @property
    def session(self) -> NotebookSession:
        return self._session()

    @line_cell_magic
    @one_line_errors
    def agent(self, line: str, cell: str | None = None) -> None:
        """Talk to the notebook's agent. See ``%agent --help``."""
        opts, message = parse_agent_line(line)
        if cell is not None:
            message = (message + "\n" + cell).strip() if message else cell.strip()
        if opts.get("help"):
            print(HELP)
            return
        if not (message or opts):
            raise UsageError("%agent needs a message: %agent MESSAGE, or a %%agent cell; see %agent --help")
        session = self.session
        if opts.get("allow_code"):
            session.set_allow_code(True)
            print("the agent may now run Python in this notebook without asking (%agent --ask-code to undo)")
        if opts.get("ask_code"):
            session.set_allow_code(False)
            print("the agent asks before each run of Python in this notebook")
        if opts.get("resume"):
            print(session.resume(opts.get("resume_path")))
        if message:
            session.send(message, interrupt=bool(opts.get("interrupt")))
        elif opts.get("interrupt"):
            print(session.interrupt("magic"))
        if opts.get("wait"):
            timeout = float(opts.get("timeout", 600.0))
            try:
                outcome = session.wait(timeout)
            except KeyboardInterrupt:
                session.interrupt("button")
                print("stopped waiting; the agent was interrupted")
                return
            if outcome == "busy":
                raise UsageError(f"%agent --wait: the agent was still busy after {timeout:g} s")
            if outcome == "asking":
                print(session.asking_line())
        elif "timeout" in opts:
            raise UsageError("%agent --timeout goes with --wait")

    def _child(self, how: SubAgentHow, line: str, cell: str) -> None:
        from ..agents.tree import AGENT_NAME, NAME_RULE

        name = line.strip()
        if not AGENT_NAME.match(name):
            raise UsageError(
                f"%%{how} NAME: give the sub-agent a name of {NAME_RULE}"
                + (f", not {name!r}" if name else "")
            )
        self.session.start_child(how, name, cell)

    @cell_magic
    @one_line_errors
    def fork(self, line: str, cell: str) -> None:
        """``%%fork NAME``: a sub-agent that shares the conversation so far; the cell is its task."""
        self._child("fork", line, cell)

    @cell_magic
    @one_line_errors
    def spawn(self, line: str, cell: str) -> None:
        """``%%spawn NAME``: a fresh sub-agent that knows only its task (the cell body)."""
        self._child("spawn", line, cell)

    def _show(self, kind: str, name: str | None = None, *, start: bool = False) -> bool:
        """Display the live widget ``kind`` (a function of ``ipyagent.widgets``) of the agent
        ``name``; False when there is none to show (no widget support, no agent running)."""
        try:
            from .. import widgets
        except ImportError:  # the lab extra (anywidget) is not installed
            return False
        from IPython.display import display

        widget = self.session.widget(getattr(widgets, kind), name, start=start)
        if widget is None:
            return False
        display(widget)  # type: ignore[no-untyped-call]
        return True

    def _widget_only(
        self, magic: str, kind: str, line: str, *, start: bool = False, text: bool = False
    ) -> None:
        words = line.split()
        as_text = text and words == ["--text"]
        if words and not as_text:
            raise UsageError(f"usage: %{magic} [--text]" if text else f"%{magic} takes no arguments")
        try:
            from .. import widgets
        except ImportError:
            raise UsageError(f"%{magic} needs anywidget: pip install 'ipyagent[lab]'") from None
        no_agent = f"%{magic}: no agent yet: send it a message with %agent MESSAGE (or open %chat)"
        if as_text:  # a snapshot: the widget's own text, then it is closed
            widget = self.session.widget(getattr(widgets, kind))
            if widget is None:
                raise UsageError(no_agent)
            try:
                print(widget.text())
            finally:
                widget.close()
        elif not self._show(kind, start=start):
            raise UsageError(no_agent)

    @line_magic
    @one_line_errors
    def agents(self, line: str) -> None:
        """``%agents [--text]``: the agent tree, live, with a cancel button per agent."""
        words = line.split()
        if any(w != "--text" for w in words):
            raise UsageError("usage: %agents [--text]")
        if "--text" in words or not self._show("agent_tree"):
            print(self.session.tree())

    @line_magic
    @one_line_errors
    def ledger(self, line: str) -> None:
        """``%ledger [NAME] [--system] [--text]``: an agent's live ledger (text: one line per entry)."""
        words = line.split()
        flags = {w for w in words if w in ("--system", "--text")}
        names = [w for w in words if w not in flags]
        if len(names) > 1 or any(n.startswith("--") for n in names):
            raise UsageError("usage: %ledger [NAME] [--system] [--text]")
        name = names[0] if names else None
        if flags or not self._show("ledger_view", name):
            print(self.session.ledger_text(name, system="--system" in flags))

    @line_magic
    @one_line_errors
    def chat(self, line: str) -> None:
        """A chat box with the agent; sending while it generates or speaks interrupts it."""
        self._widget_only("chat", "chat_box", line, start=True)

    @line_magic
    @one_line_errors
    def timeline(self, line: str) -> None:
        """``%timeline [--text]``: states and tool-call spans of the agents over time."""
        self._widget_only("timeline", "timeline", line, text=True)

    @line_magic
    @one_line_errors
    def notifications(self, line: str) -> None:
        """``%notifications [--text]``: tool results, errors, timers and sub-agent reports as
        they arrive (--text: what arrived so far, as text)."""
        self._widget_only("notifications", "notifications", line, text=True)

    @line_magic
    @one_line_errors
    def voice(self, line: str) -> None:
        """``%voice [--tts piper|espeak|gtts]``: talk to the agent through the microphone; it
        answers aloud (piper offline by default; gtts needs the network)."""
        words = line.split()
        if not words:
            tts = "piper"
        elif len(words) == 2 and words[0] == "--tts" and words[1] in VOICES:
            tts = words[1]
        else:
            raise UsageError(f"usage: %voice [--tts {'|'.join(VOICES)}]")
        from functools import partial

        from IPython.display import display

        from ..widgets import voice as attach_voice

        display(self.session.widget(partial(attach_voice, tts=tts), start=True))  # type: ignore[no-untyped-call]

    @line_magic
    @one_line_errors
    def interrupt(self, line: str) -> None:
        """Stop what the agents are generating or saying now; their tools keep running."""
        if line.strip():
            raise UsageError("%interrupt takes no arguments")
        print(self.session.interrupt("magic"))

    @line_magic
    @one_line_errors
    def cancel(self, line: str) -> None:
        """``%cancel NAME``: stop an agent and everything under it."""
        name = line.strip()
        if not name or " " in name:
            raise UsageError("usage: %cancel NAME (see %agents for the names)")
        print(self.session.cancel(name))

    @line_magic
    @one_line_errors
    def model(self, line: str) -> None:
        """``%model [SPEC]``: show or switch the model backend."""
        spec = line.strip()
        session = self.session
        if not spec:
            print(f"model: {session.model}")
            return
        print(f"model: {session.set_model(spec)}")

    @line_magic
    @one_line_errors
    def tools(self, line: str) -> None:
        """The tools the agent can call."""
        if line.strip():
            raise UsageError("%tools takes no arguments")
        print(tool_table(self.session.tool_list()))

    @line_magic
    @one_line_errors
    def approve(self, line: str) -> None:
        """``%approve [ID]``: let the agent run the code it asked to run."""
        print(self.session.answer(line.strip() or None, True))

    @line_magic
    @one_line_errors
    def deny(self, line: str) -> None:
        """``%deny [ID]``: refuse the agent's request to run code."""
        print(self.session.answer(line.strip() or None, False))
