"""MCP tools as asynchronous agent tools, against a real MCP server (the SDK's server API) over
stdio and streamable HTTP: the agent answers while a slow MCP tool runs, progress shows,
cancellation reaches the server, and every fault is one line the agent gets past."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from mcp_kit import ReplyModel, call, http_server, notes, server_processes, servers_running, stdio

from ipyagent import Agent, State
from ipyagent.agents.updates import TaskChanged, Update
from ipyagent.dispatch.tasks import MAX_RESULT_CHARS
from ipyagent.ledger.render.common import tasks_text
from ipyagent.ledger.render.context import Context

pytestmark = pytest.mark.slow


def model(**replies: tuple[str, list[dict[str, Any]]] | str) -> ReplyModel:
    """``model(go=("On it.", [call(...)]))``: how it answers the user message "go"."""
    return ReplyModel({k.replace("_", " "): (v, []) if isinstance(v, str) else v for k, v in replies.items()})


def say(text: str, *calls: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    return text, list(calls)


async def run(agent: Agent, *messages: str) -> Agent:
    for message in messages:
        await agent.send(message)
    with anyio.fail_after(40):
        await agent.settled()
    assert agent.state is State.IDLE
    return agent


@pytest.fixture(scope="module")
def http_url() -> Any:
    with http_server() as url:
        yield url


class Progress:
    """Every progress line the agent's tasks report; ``reported`` is set at the first."""

    def __init__(self, agent: Agent) -> None:
        self.lines: list[str] = []
        self.reported = anyio.Event()
        agent.subscribe(self.hear)

    def hear(self, update: Update) -> None:
        if isinstance(update, TaskChanged) and update.task.running and update.task.progress:
            self.lines.append(update.task.progress.text)
            self.reported.set()


async def a_slow_call_while_the_agent_talks(agent: Agent, label: str) -> None:
    """The slow tool runs and reports progress while a quick question is answered; then a second
    slow call is cancelled with cancel_task and the server confirms it stopped."""
    progress = Progress(agent)
    await agent.send("plan")
    with anyio.fail_after(30):
        await progress.reported.wait()  # the slow tool runs and reports
    # The next prompt tells the model how far the running tool has got.
    status = tasks_text(Context(entries=[], pending=agent.runner.pending()))
    pattern = r"Tasks: t1 slow \(running [\d.]+ s; progress: \d/8: step \d of 8, [\d.]+ m?s ago\)\."
    assert re.fullmatch(pattern, status), status
    await run(agent, "sum")
    kinds = [(e.kind, e.text) for e in agent.ledger]
    answer = kinds.index(("assistant", "2 + 2 is 4."))
    result = next(i for i, (k, t) in enumerate(kinds) if k == "notification" and "finished 8 steps" in t)
    assert answer < result, "the quick question waited for the slow MCP tool"
    assert next(t for k, t in kinds if k == "tool_result").startswith("started as task t1")
    assert progress.lines[0] == "1/8: step 1 of 8" and progress.lines[-1] == "8/8: step 8 of 8"

    second = Progress(agent)
    await agent.send("start")
    with anyio.fail_after(30):
        await second.reported.wait()  # the server is working on it
    await run(agent, "stop")
    await run(agent, "check")
    found = notes(agent)
    assert [t for s, n, t in found if n == "slow"][-1] == "cancelled (cancelled by the agent)"
    assert ("tool_result", "was_cancelled", "yes") in found, found


def brain_for(label: str, **more: tuple[str, list[dict[str, Any]]] | str) -> ReplyModel:
    return model(
        plan=say("On it.", call("slow", label=f"plan-{label}", steps=8, step_seconds=0.1)),
        sum="2 + 2 is 4.",
        start=say("Starting.", call("slow", label=f"cut-{label}", steps=400, step_seconds=0.05)),
        stop=say("Stopping it.", call("cancel_task", task_id="t2")),
        check=say("Checking.", call("was_cancelled", label=f"cut-{label}")),
        **more,
    )


async def test_over_stdio_calls_are_background_tasks_and_faults_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak-000")
    brain = brain_for(
        "stdio",
        env=say("Looking.", call("env", name="OPENAI_API_KEY"), call("env", name="GREETING")),
        errors=say("Trying.", call("fail", message="disk full"), call("huge", chars=MAX_RESULT_CHARS * 3)),
        crash=say("Crash it.", call("crash")),
        again=say("Again.", call("add", a=2, b=40)),
    )
    async with Agent(brain, mcp={"under": stdio(env={"GREETING": "hello"})}) as agent:
        await a_slow_call_while_the_agent_talks(agent, "stdio")
        assert servers_running() == 1
        await run(agent, "env")
        await run(agent, "errors")
        await run(agent, "crash")
        await run(agent, "again")
        found = [(n, (s, t)) for s, n, t in notes(agent)]
        assert agent.mcp.servers["under"].starts == 2  # restarted on the call after the crash
    assert server_processes() == []  # closing the agent stopped its server
    by_tool = dict(found)
    # A server gets the SDK's minimal environment plus what its config names: no API keys.
    assert [t for n, (_, t) in found if n == "env"] == ["(unset)", "hello"]
    assert by_tool["fail"] == ("tool_error", "McpToolError: Error executing tool fail: disk full")
    source, huge = by_tool["huge"]
    cut = f"[... output cut: only the first {MAX_RESULT_CHARS:,} characters of 48,000 characters are shown]"
    assert source == "tool_result" and huge.startswith("xxxx") and huge.endswith(cut)
    assert by_tool["crash"] == (
        "tool_error",
        "McpServerError: MCP server 'under' stopped during the call (its last words: crashing on "
        "purpose); it restarts on next use",
    )
    assert by_tool["add"] == ("tool_result", "42")


async def test_over_http_calls_are_background_tasks(http_url: str) -> None:
    async with Agent(brain_for("http"), mcp={"under": {"url": http_url}}) as agent:
        await a_slow_call_while_the_agent_talks(agent, "http")


async def test_servers_that_cannot_start_are_one_line_each_and_the_agent_carries_on() -> None:
    servers = {
        "missing": {"command": "no-such-mcp-server-xyz"},
        "broken": stdio("fail-start"),
        "hung": stdio("hang", startup_timeout=1),
        "noisy": stdio("garbage", startup_timeout=4),  # time to start Python on a busy machine
    }
    async with Agent(model(hi="Hello."), mcp=servers) as agent:
        await run(agent, "hi")
        found = {n: t for _, n, t in notes(agent)}
        answers = [e.text for e in agent.ledger if e.kind == "assistant"]
        states = {name: s.state for name, s in agent.mcp.servers.items()}
    assert answers[0] == "Hello."  # the agent answered, and then heard about the servers
    assert states == dict.fromkeys(servers, "failed")
    assert found == {
        "mcp:missing": "MCP server 'missing' could not start: command 'no-such-mcp-server-xyz' not found",
        "mcp:broken": "MCP server 'broken' could not start: exited before it was ready: "
        "config file missing: /nowhere/settings.toml",
        "mcp:hung": "MCP server 'hung' did not answer within 1 s of starting",
        "mcp:noisy": "MCP server 'noisy' did not answer within 4 s of starting (it wrote something "
        "that is not MCP: 'this is not json-rpc')",
    }
    assert server_processes() == []  # every server the agent started has stopped


async def test_a_result_that_is_not_valid_mcp_is_a_one_line_tool_error_and_the_agent_carries_on() -> None:
    brain = model(go=say("Adding.", call("add", a=1, b=2)), again=say("Again.", call("add", a=3, b=4)))
    async with Agent(brain, mcp={"odd": stdio("bad-result")}) as agent:
        await run(agent, "go", "again")
        found = [(s, n, t) for s, n, t in notes(agent)]
        answers = [e.text for e in agent.ledger if e.kind == "assistant"]
    error = ("tool_error", "add", "McpToolError: add: the server sent a result that is not valid MCP")
    assert found == [error, error]
    assert "Again." in answers and agent.state is State.IDLE  # it went on to the next request
    assert server_processes() == []


async def test_an_http_server_that_is_not_there() -> None:
    from mcp_kit import free_port

    url = f"http://127.0.0.1:{free_port()}/mcp"
    async with Agent(model(hi="Hello."), mcp={"away": {"url": url, "startup_timeout": 5}}) as agent:
        await run(agent, "hi")
        found = notes(agent)
    why = f"MCP server 'away' could not connect to {url}: nothing answers there (connection refused)"
    assert found == [("tool_error", "mcp:away", why)]


async def test_a_call_that_takes_too_long_times_out_and_the_server_hears_it(http_url: str) -> None:
    brain = model(
        go=say("Go.", call("slow", label="too-long", steps=400, step_seconds=0.05)),
        check=say("Check.", call("was_cancelled", label="too-long")),
    )
    async with Agent(brain, mcp={"under": {"url": http_url, "timeout": 0.5}}) as agent:
        await run(agent, "go")
        await run(agent, "check")
        found = {n: t for _, n, t in notes(agent)}
    assert found["slow"] == "timed out after 0.5 s and was stopped"
    assert found["was_cancelled"] == "yes"


async def test_require_approval_waits_for_the_user(http_url: str) -> None:
    asked: list[tuple[str, str]] = []
    answers = iter([False, True])

    async def approver(tool: str, what: str) -> bool:
        asked.append((tool, what))
        return next(answers)

    brain = model(go=say("Adding.", call("add", a=1, b=2)), again=say("Again.", call("add", a=3, b=4)))
    async with Agent(brain, mcp={"under": {"url": http_url, "require_approval": True}}) as agent:
        agent.mcp.approver = approver
        await run(agent, "go")
        await run(agent, "again")
        found = [(n, t) for _, n, t in notes(agent)]
    assert asked == [("add", 'under.add({"a": 1, "b": 2})'), ("add", 'under.add({"a": 3, "b": 4})')]
    assert found[0] == ("add", "PermissionError: the user did not allow this call to under.add")
    assert found[1] == ("add", "7")


async def test_colliding_tool_names_are_prefixed_with_the_server(http_url: str) -> None:
    brain = model(go=say("Both.", call("one_add", a=1, b=1), call("two_add", a=2, b=2)))
    async with Agent(brain, mcp={"one": {"url": http_url}, "two": {"url": http_url}}) as agent:
        await run(agent, "go")
        tools = agent.tools
        found = sorted(t for _, _, t in notes(agent))
    assert {"one_add", "two_add", "one_slow", "two_slow"} <= set(tools)
    assert "add" not in tools
    assert tools["one_add"].parameters["required"] == ["a", "b"]  # the server's schema, as given
    assert brain.offered[0][-1] == "two_env"  # the first generation already offered them
    assert found == ["2", "4"]


async def test_a_tool_of_the_user_added_later_keeps_its_name_and_the_servers_moves_aside(
    http_url: str,
) -> None:
    def add(a: int, b: int) -> str:
        "Add two numbers the user's way."
        return f"the user's sum is {a + b}"

    brain = model(
        go=say("Adding.", call("add", a=1, b=2)),
        again=say("Both.", call("add", a=3, b=4), call("under_add", a=5, b=6)),
    )
    async with Agent(brain, mcp={"under": {"url": http_url}}) as agent:
        await run(agent, "go")
        assert type(agent.tools["add"]).__name__ == "McpTool"  # alone, the server's tool keeps its name
        agent.add_tool(add)
        await run(agent, "again")
        tools = agent.tools
        found = [t for _, _, t in notes(agent)]
    assert type(tools["add"]).__name__ != "McpTool" and type(tools["under_add"]).__name__ == "McpTool"
    assert found == ["3", "the user's sum is 7", "11"]


async def test_sub_agents_use_their_parents_servers(http_url: str) -> None:
    brain = model(go=say("Starting."), sum=say("Adding.", call("add", a=20, b=22)))
    async with Agent(brain, mcp={"under": {"url": http_url}}) as agent:
        await run(agent, "go")
        child = agent.spawn("sum", name="helper")
        with anyio.fail_after(30):
            await agent.settled()
        assert agent.mcp.servers["under"].starts == 1  # the child did not start its own
        assert ("tool_result", "add", "42") in notes(child)
