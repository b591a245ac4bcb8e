"""Details of what a model reads that a user meets in the answers: the status line (running tasks,
their progress, how old the new results are), the small model's one-line tool signatures, where
its status goes, an interruption, and a notification that waited. Expected text written by hand."""

from __future__ import annotations

from ipyagent.ledger import Ledger
from ipyagent.ledger.render import render_chatml
from ipyagent.ledger.render.chatml import compact_tool_lines, render_small_model
from ipyagent.ledger.render.common import tasks_text
from ipyagent.ledger.render.context import Context, PendingTask, ToolSpec

T0 = 1_700_000_000.0  # 22:13:20 UTC


def test_the_status_names_running_tasks_and_how_old_the_new_results_are() -> None:
    ledger = Ledger("main")
    ledger.append("notification", "old result", time=T0 - 60, source="tool_result", task_id="t0", name="old")
    ledger.append("user", "go", time=T0 - 50, source="chat")
    ledger.append(
        "notification",
        "Paris: sunny",
        time=T0,
        source="tool_result",
        task_id="t1",
        name="get_weather",
        finished=T0 - 12,
    )
    ledger.append(
        "notification", "progress: 3 of 10", time=T0, source="tool_progress", task_id="t2", name="crawl"
    )
    ledger.append("notification", "tick", time=T0, source="timer")
    ledger.append("notification", "failed: 404", time=T0 + 1, source="tool_error", task_id="t3")
    pending = [
        PendingTask("t2", "crawl", 65.0, "pages (3 of 10)", 4.0),
        PendingTask("t4", "sleep", 2.0),
        PendingTask("t5", "poll", 700.0, "waiting", None),
    ]
    context = Context(entries=list(ledger), now=T0 + 5, pending=pending)
    assert tasks_text(context) == (
        "Tasks: t2 crawl (running 1 min 5 s; progress: pages (3 of 10), 4.0 s ago); "
        "t4 sleep (running 2.0 s); t5 poll (running 11 min 40 s; progress: waiting, 0.0 s ago). "
        "New results: t1 get_weather finished 17 s ago; t3 finished 4.0 s ago."
    )
    quiet = Context(
        entries=[*list(ledger), ledger.append("assistant", "ok", time=T0 + 2, status="complete")], now=T0
    )
    assert tasks_text(quiet) == "Tasks: no tasks running."


WEATHER = ToolSpec(
    "get_weather",
    "Current weather.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "raw": {}},
        "required": ["city"],
    },
)


def test_the_small_model_reads_one_line_per_tool() -> None:
    tools = [WEATHER, ToolSpec("ping", "Check.", {}), ToolSpec("odd", "Odd.", {"properties": {"x": True}})]
    context = Context(entries=[], now=T0, tools=tools)
    assert compact_tool_lines(context) == (
        "- get_weather(city: string, days?: integer, raw?: any): Current weather.\n"
        "- ping(): Check.\n"
        "- odd(x?: any): Odd."
    )


def test_the_small_models_prompt_puts_the_status_before_the_last_message() -> None:
    ledger = Ledger("main")
    ledger.append("system", "Be brief.", time=T0)
    ledger.append("user", "weather?", time=T0)
    context = Context(entries=list(ledger), now=T0, tools=[WEATHER])
    prompt = render_small_model(context, status="Tasks: none.")
    assert prompt == (
        "<|im_start|>system\nBe brief.\n\n"
        + prompt.split("Be brief.\n\n", 1)[1].split("<|im_end|>", 1)[0]
        + "<|im_end|>\n<|im_start|>notification\nTasks: none.<|im_end|>\n"
        "<|im_start|>user\nweather?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "- get_weather(city: string, days?: integer, raw?: any): Current weather." in prompt
    assert '"properties"' not in prompt
    assert "Now:" in render_small_model(context)  # without a status of its own: the present moment


def add_late_result_and_tick(ledger: Ledger, text: str) -> None:
    """get_weather's result (t1), recorded at T0 + 10 though it finished at T0 + 2; a timer's tick."""
    ledger.append(
        "notification",
        text,
        time=T0 + 10,
        source="tool_result",
        task_id="t1",
        name="get_weather",
        finished=T0 + 2,
    )
    ledger.append("notification", "tick", time=T0 + 10, source="timer")


def test_an_interruption_and_a_notification_that_waited_read_as_such() -> None:
    ledger = Ledger("main")
    ledger.append("user", "count to ten", time=T0, source="chat")
    ledger.append("interruption", "the user started talking", time=T0 + 1)  # before a word was said
    add_late_result_and_tick(ledger, "Paris: sunny")
    prompt = render_chatml(Context(entries=list(ledger), now=T0 + 10))
    assert "count to ten<|im_end|>\n<|im_start|>assistant\n<|interrupt|><|im_end|>\n" in prompt
    assert (
        "<|im_start|>notification\n"
        "[22:13:30, finished 22:13:22] tool_result t1 get_weather: Paris: sunny<|im_end|>\n" in prompt
    )
    assert "<|im_start|>notification\n[22:13:30] timer: tick<|im_end|>\n" in prompt


def test_an_api_model_reads_calls_as_sorted_json_and_notifications_tagged_with_their_call() -> None:
    from ipyagent.ledger.render import render_openai

    ledger = Ledger("main")
    ledger.append("user", "weather in Zürich?", time=T0)
    ledger.append("assistant", "", time=T0, status="complete")
    ledger.append(
        "tool_call", "", time=T0, name="get_weather", arguments={"days": 2, "city": "Zürich"}, call_id="c1"
    )
    ledger.append(
        "tool_result", "", time=T0, name="get_weather", status="started", task_id="t1", call_id="c1"
    )
    add_late_result_and_tick(ledger, "Zürich: 3 C")
    ledger.append("interruption", "the user spoke", time=T0 + 11)
    messages, _ = render_openai(Context(entries=list(ledger), now=T0 + 12))
    [call] = next(m for m in messages if m.get("tool_calls"))["tool_calls"]
    assert call["function"]["arguments"] == '{"city":"Zürich","days":2}'
    texts = [m["content"] for m in messages if m["role"] == "user"]
    assert (
        '<notification kind="tool_result" task="t1" call="c1" name="get_weather"'
        ' time="2023-11-14 22:13:30 UTC" finished="2023-11-14 22:13:22 UTC">Zürich: 3 C</notification>'
    ) in texts
    assert '<notification kind="timer" time="2023-11-14 22:13:30 UTC">tick</notification>' in texts
    assert any(
        t.startswith(
            '<interruption time="2023-11-14 22:13:31 UTC">Your previous message was cut off (the user spoke).'
        )
        for t in texts
        if isinstance(t, str)
    )
