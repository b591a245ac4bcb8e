"""The agent magics. Each one is a thin layer over :class:`~ipyagent.kernel.session.NotebookSession`;
a mistake is reported as one line (an IPython ``UsageError``), never a traceback."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

from .options import argument, magic_options, parse, seconds

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
  %agent -- -MESSAGE        a message that starts with a dash (-- ends the options)
  %agent --help             this text; %agent? (any magic, with ?) shows its options

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

VOICES = ("piper", "espeak", "gtts")
# The live views' --text: what they show, as text (for nbconvert, a terminal, a quick look).
AS_TEXT = argument("--text", action="store_true", help="a snapshot as text instead of the live view")


def agent_name(text: str) -> str:
    """An argparse ``type``: a sub-agent's name (``%%fork NAME``)."""
    from ..agents.tree import AGENT_NAME, NAME_RULE

    if not AGENT_NAME.match(text):
        raise argparse.ArgumentTypeError(f"give the sub-agent a name of {NAME_RULE}, not {text!r}")
    return text


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
    @magic_options(
        argument("message", nargs=argparse.REMAINDER, metavar="MESSAGE", help="what to say to the agent"),
        argument("--interrupt", action="store_true", help="cut the agent off, then send MESSAGE"),
        argument(
            "--wait",
            action="store_true",
            help="block this cell until the agent is idle with nothing running, or asks to run code",
        ),
        argument("--timeout", type=seconds, metavar="S", help="with --wait: give up after S seconds (600)"),
        argument(
            "--resume",
            nargs="?",
            const="",
            metavar="PATH",
            help="after a kernel restart: bring back this notebook's last session (or the one at PATH)",
        ),
        argument("--allow-code", action="store_true", help="let the agent run Python here without asking"),
        argument("--ask-code", action="store_true", help="ask before each run of Python (the default)"),
        argument("-h", "--help", action="store_true", help="all the ipyagent magics"),
    )
    def agent(self, line: str, cell: str | None = None) -> None:
        """Talk to the notebook's agent: it answers in this cell's output and keeps working in the
        background. Options come first; the rest of the line (and a %%agent cell's body) is the
        message, as typed. A -- word ends the options."""
        args = parse_agent_line(line)
        message: str = args.message
        if cell is not None:
            message = (message + "\n" + cell).strip() if message else cell.strip()
        if args.help:
            print(HELP)
            return
        acts = args.interrupt or args.wait or args.allow_code or args.ask_code or args.resume is not None
        if not (message or acts):
            raise UsageError("%agent needs a message: %agent MESSAGE, or a %%agent cell; see %agent --help")
        if args.timeout is not None and not args.wait:
            raise UsageError("%agent --timeout goes with --wait")
        session = self.session
        if args.allow_code:
            session.set_allow_code(True)
            print("the agent may now run Python in this notebook without asking (%agent --ask-code to undo)")
        if args.ask_code:
            session.set_allow_code(False)
            print("the agent asks before each run of Python in this notebook")
        if args.resume is not None:
            print(session.resume(args.resume or None))
        if message:
            session.send(message, interrupt=args.interrupt)
        elif args.interrupt:
            print(session.interrupt("magic"))
        if args.wait:
            timeout = 600.0 if args.timeout is None else args.timeout
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

    def _options(self, magic: str, line: str, *, text: str | None = None) -> argparse.Namespace:
        """``line`` parsed against the options the magic method ``magic`` declares."""
        return parse(getattr(self, magic), line, text=text)

    def _child(self, how: SubAgentHow, line: str, cell: str) -> None:
        from ..agents.tree import NAME_RULE

        name = self._options(how, line).name
        if name is None:
            raise UsageError(f"%%{how} NAME: give the sub-agent a name of {NAME_RULE}")
        self.session.start_child(how, name, cell)

    @cell_magic
    # a cell magic: %%fork
    @magic_options(
        argument("name", nargs="?", type=agent_name, metavar="NAME", help="the sub-agent's name"),
        name="%fork",
    )
    def fork(self, line: str, cell: str) -> None:
        """A sub-agent that shares the conversation so far; the cell body is its task, the cell
        its live view."""
        self._child("fork", line, cell)

    @cell_magic
    # a cell magic: %%spawn
    @magic_options(
        argument("name", nargs="?", type=agent_name, metavar="NAME", help="the sub-agent's name"),
        name="%spawn",
    )
    def spawn(self, line: str, cell: str) -> None:
        """A fresh sub-agent that knows only its task (the cell body); the cell is its live view."""
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

    def _widget_only(self, magic: str, kind: str, *, start: bool = False, as_text: bool = False) -> None:
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
    @magic_options(AS_TEXT)
    def agents(self, line: str) -> None:
        """The agent tree, live: each agent's status, state, running tasks and a cancel button."""
        if self._options("agents", line).text or not self._show("agent_tree"):
            print(self.session.tree())

    @line_magic
    @magic_options(
        argument("name", nargs="?", metavar="NAME", help="main (the default), a sub-agent's name or path"),
        argument("--system", action="store_true", help="as text, with the system message"),
        argument("--text", action="store_true", help="as text: one line per entry"),
    )
    def ledger(self, line: str) -> None:
        """An agent's ledger, live: entries by role, tool calls with their status, filters."""
        args = self._options("ledger", line)
        if args.system or args.text or not self._show("ledger_view", args.name):
            print(self.session.ledger_text(args.name, system=args.system))

    @line_magic
    @magic_options()
    def chat(self, line: str) -> None:
        """A chat box with the agent; sending while it generates or speaks interrupts it."""
        self._options("chat", line)
        self._widget_only("chat", "chat_box", start=True)

    @line_magic
    @magic_options(AS_TEXT)
    def timeline(self, line: str) -> None:
        """The agents' states and tool-call spans over time."""
        self._widget_only("timeline", "timeline", as_text=self._options("timeline", line).text)

    @line_magic
    @magic_options(AS_TEXT)
    def notifications(self, line: str) -> None:
        """Tool results, errors, timers and sub-agent reports as they arrive: what the agent is
        told besides your messages."""
        self._widget_only("notifications", "notifications", as_text=self._options("notifications", line).text)

    @line_magic
    @magic_options(
        argument(
            "--tts",
            choices=VOICES,
            default=VOICES[0],
            metavar="|".join(VOICES),
            help="the voice: piper (offline, the default), espeak, or gtts (needs the network)",
        )
    )
    def voice(self, line: str) -> None:
        """Talk to the agent through the microphone; it answers aloud."""
        tts = self._options("voice", line).tts
        from functools import partial

        from IPython.display import display

        from ..widgets import voice as attach_voice

        display(self.session.widget(partial(attach_voice, tts=tts), start=True))  # type: ignore[no-untyped-call]

    @line_magic
    @magic_options()
    def interrupt(self, line: str) -> None:
        """Stop what the agents are generating or saying now; their tools keep running."""
        self._options("interrupt", line)
        print(self.session.interrupt("magic"))

    @line_magic
    @magic_options(argument("name", metavar="NAME", help="the agent (see %%agents for the names)"))
    def cancel(self, line: str) -> None:
        """Stop an agent and everything under it."""
        print(self.session.cancel(self._options("cancel", line).name))

    @line_magic
    @magic_options(
        argument(
            "spec",
            nargs=argparse.REMAINDER,
            metavar="SPEC",
            help="local, openai:MODEL, anthropic:MODEL, openai:MODEL@BASE_URL or scripted:PATH",
        )
    )
    def model(self, line: str) -> None:
        """Show the model backend, or switch to SPEC."""
        spec: str = self._options("model", line, text="spec").spec
        session = self.session
        if not spec:
            print(f"model: {session.model}")
            return
        print(f"model: {session.set_model(spec)}")

    @line_magic
    @magic_options()
    def tools(self, line: str) -> None:
        """The tools the agent can call (define more with @tool in any cell)."""
        self._options("tools", line)
        print(tool_table(self.session.tool_list()))

    @line_magic
    @magic_options(
        argument("id", nargs="?", metavar="ID", help="which request (the only one pending, by default)")
    )
    def approve(self, line: str) -> None:
        """Let the agent run the code it asked to run."""
        print(self.session.answer(self._options("approve", line).id, True))

    @line_magic
    @magic_options(
        argument("id", nargs="?", metavar="ID", help="which request (the only one pending, by default)")
    )
    def deny(self, line: str) -> None:
        """Refuse the agent's request to run code."""
        print(self.session.answer(self._options("deny", line).id, False))


def parse_agent_line(line: str) -> argparse.Namespace:
    """``%agent``'s options (only at the start) and, as ``message``, the rest of the line as typed."""
    return parse(AgentMagics.agent, line, text="message", hint="see %agent --help")
