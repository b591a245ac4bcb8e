"""Fine-tuning data from the evaluation harness: every generation of a successful reference run,
as the exact prompt a local model sees and the message it should write.

Two sources:

- the shipped scenarios' reference scripts, except the held-out ones (:data:`HELD_OUT`);
- generated dialogues: :func:`generated_suite` varies tools, arguments, latencies, phrasing and
  interruptions over eight families (one per behaviour), with tools and wording of its own.

Each dialogue runs through the real agent on a virtual clock (the same runner the evaluation
uses), with its script as the model; a recording backend keeps, for each generation, the prompt
(:func:`~ipyagent.ledger.render.render_small_model`, as the ``local`` backend renders it) and the
completion (text, then ``<tool_call>`` blocks, then ``<|im_end|>``). Only runs that pass all
their checks are kept.

The held-out scenarios are never exported and the generator shares no tool with them, so the
evaluation of a model trained on this data on the held-out ones is honest::

    python -m ipyagent.eval.dialogues --generated 3000 --seed 19 --out train.jsonl
    python -m ipyagent eval --held-out --model local
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..clock import Clock
from ..dispatch.backends import Backend
from ..dispatch.backends.base import Chunk, TextChunk, ToolCallChunk
from ..ledger.render import render_small_model
from ..ledger.render.context import Context
from .loader import find_suites, parse_suite
from .metrics import score
from .runner import reference_model, run_scenario
from .scenario import Scenario

# Whole scenario families never trained on: two of each behaviour's five or six (16 of 42).
HELD_OUT = frozenset(
    {
        "async_basics/stock-during-report",
        "async_basics/definition-during-tests",
        "async_basics/conversion-result-used",
        "async_basics/two-results-at-different-times",
        "async_basics/impatient-user",
        "async_basics/status-question-while-pending",
        "control/cancel-booking",
        "control/cancel-one-of-two",
        "control/just-the-price",
        "control/no-kettle",
        "control/deadline-check-in",
        "control/eggs-and-toast",
        "delegation/fork-email-to-boss",
        "delegation/spawn-unrelated-translation",
        "delegation/two-stock-prices",
        "delegation/convert-to-two-currencies",
    }
)
# The held-out scenarios' own tools: the generator never declares them.
HELD_OUT_TOOLS = frozenset(
    {"get_stock_price", "compile_report", "define_word", "run_tests", "book_table", "convert_currency"}
)
END = "<|im_end|>"


def held_out_scenarios() -> list[Scenario]:
    return [s for suite in find_suites() for s in suite.scenarios if s.key in HELD_OUT]


def training_scenarios() -> list[Scenario]:
    """The shipped scenarios that may be trained on."""
    return [s for suite in find_suites() for s in suite.scenarios if s.key not in HELD_OUT]


def completion_text(text: str, calls: Sequence[tuple[str, Any]]) -> str:
    """An assistant message as the local model writes it."""
    body = text
    for name, arguments in calls:
        payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        body += ("\n" if body else "") + f"<tool_call>\n{payload}\n</tool_call>"
    return body + END


@dataclass
class _Recording:
    pairs: list[dict[str, str]] = field(default_factory=list)


class RecordingBackend:
    """Streams another backend's output and records each generation's prompt and completion."""

    def __init__(self, inner: Backend, recording: _Recording) -> None:
        self.inner = inner
        self.recording = recording
        self.name = inner.name

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        prompt = render_small_model(context)
        text, calls = "", []
        async for chunk in self.inner.stream(context, agent=agent):
            if isinstance(chunk, TextChunk):
                text += chunk.text
            elif isinstance(chunk, ToolCallChunk):
                calls.append((chunk.call.name, chunk.call.arguments))
            yield chunk
        self.recording.pairs.append({"prompt": prompt, "completion": completion_text(text.strip(), calls)})


async def record(scenario: Scenario) -> list[dict[str, str]] | None:
    """The prompt/completion pairs of the scenario's reference run, or None if it did not pass."""
    recording = _Recording()

    def factory(s: Scenario, clock: Clock) -> Backend:
        return RecordingBackend(reference_model(s, clock), recording)

    result = score(await run_scenario(scenario, factory, model="reference"))
    if not result.success:
        return None
    return [{"scenario": scenario.key, "behaviour": scenario.behaviour, **p} for p in recording.pairs]


# --- the generator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tool:
    name: str
    description: str
    parameters: dict[str, str]
    values: Callable[[random.Random], dict[str, Any]]
    asks: tuple[str, ...]  # how a user asks for it: {argument} placeholders
    result: str  # {argument} placeholders
    says: str  # how the agent reports the result; {argument} and {result}
    starting: tuple[str, ...] = ("On it.", "Starting that now.", "Let me check.", "One moment.")


CITIES = [
    "Lisbon",
    "Oslo",
    "Nairobi",
    "Lima",
    "Hanoi",
    "Toronto",
    "Dublin",
    "Seoul",
    "Athens",
    "Quito",
    "Porto",
    "Krakow",
    "Osaka",
    "Denver",
    "Cairo",
    "Perth",
    "Bergen",
    "Tbilisi",
    "Bogota",
    "Riga",
]
TOPICS = ["solar power", "electric bikes", "coral reefs", "jazz history", "deep sea fish", "bread baking"]
DISHES = ["lentil soup", "pad thai", "apple pie", "risotto", "falafel", "pancakes"]
STATIONS = ["Central", "Riverside", "Airport", "Old Town", "Harbour", "North"]
LANGS = ["Spanish", "German", "Italian", "Japanese", "French"]
PHRASES = ["good morning", "thank you very much", "where is the station", "see you tomorrow"]
DATASETS = ["orders", "traffic", "survey", "inventory", "churn", "energy"]
FOLDERS = ["photos", "thesis", "projects", "music", "invoices"]
VIDEOS = ["holiday", "product demo", "wedding", "lecture"]


def _pick(rng: random.Random, items: Sequence[str]) -> str:
    return items[rng.randrange(len(items))]


TOOLS = [
    _Tool(
        "get_forecast",
        "Weather forecast for a city.",
        {"city": "string"},
        lambda r: {"city": _pick(r, CITIES)},
        (
            "What's the forecast for {city}?",
            "Will it rain in {city}?",
            "How is the weather in {city}?",
            "Check the weather in {city} for me.",
        ),
        "{city}: cloudy, 14 C, light wind",
        "In {city} it is cloudy, 14 degrees, with a light wind.",
    ),
    _Tool(
        "find_train",
        "The next train from a station.",
        {"station": "string"},
        lambda r: {"station": _pick(r, STATIONS)},
        (
            "When is the next train from {station}?",
            "Find me the next train from {station} station.",
            "Look up trains leaving {station}.",
        ),
        "next train from {station}: 10:42, platform 3",
        "The next train from {station} leaves at 10:42 from platform 3.",
    ),
    _Tool(
        "get_news",
        "Latest news headlines on a topic.",
        {"topic": "string"},
        lambda r: {"topic": _pick(r, TOPICS)},
        ("Any news about {topic}?", "Get me the latest headlines on {topic}.", "What's new in {topic}?"),
        "{topic}: a new record was set this week",
        "The latest on {topic}: a new record was set this week.",
    ),
    _Tool(
        "find_recipe",
        "Find a recipe for a dish.",
        {"dish": "string"},
        lambda r: {"dish": _pick(r, DISHES)},
        ("Find a recipe for {dish}.", "How do I cook {dish}? Look up a recipe.", "Get me a {dish} recipe."),
        "{dish}: 6 ingredients, 40 minutes",
        "I found a {dish} recipe: 6 ingredients and 40 minutes.",
    ),
    _Tool(
        "translate_text",
        "Translate a text into a language.",
        {"text": "string", "language": "string"},
        lambda r: {"text": _pick(r, PHRASES), "language": _pick(r, LANGS)},
        ("Translate '{text}' into {language}.", "How do you say '{text}' in {language}? Use the translator."),
        "'{text}' in {language}: [translated]",
        "In {language}, '{text}' is: [translated].",
    ),
    _Tool(
        "crunch_dataset",
        "Run a slow statistical analysis of a named dataset.",
        {"dataset": "string"},
        lambda r: {"dataset": _pick(r, DATASETS)},
        (
            "Crunch the {dataset} dataset.",
            "Run the statistics on the {dataset} data.",
            "Analyse the {dataset} dataset for me.",
        ),
        "{dataset}: 5210 rows, mean 48.2, 2 anomalies",
        "The {dataset} analysis is done: 5210 rows, mean 48.2, and 2 anomalies.",
    ),
    _Tool(
        "backup_folder",
        "Back up a folder to the cloud.",
        {"folder": "string"},
        lambda r: {"folder": _pick(r, FOLDERS)},
        (
            "Back up my {folder} folder.",
            "Please start a backup of {folder}.",
            "Save a backup of the {folder} folder.",
        ),
        "{folder}: 812 files backed up",
        "Your {folder} backup finished: 812 files.",
    ),
    _Tool(
        "render_video",
        "Render a video project to a file.",
        {"project": "string"},
        lambda r: {"project": _pick(r, VIDEOS)},
        ("Render the {project} video.", "Export the {project} video project.", "Start rendering {project}."),
        "{project}.mp4 rendered, 3 min 12 s",
        "The {project} video is rendered: 3 minutes 12 seconds long.",
    ),
    _Tool(
        "count_words",
        "Count the words in a text.",
        {"text": "string"},
        lambda r: {"text": _pick(r, PHRASES)},
        ("Use count_words on '{text}'.", "How many words are in '{text}'? Count them with the tool."),
        "{count} words",
        "'{text}' has {count} words.",
    ),
    _Tool(
        "lookup_record",
        "Look up a record by its key in the slow archive.",
        {"key": "string"},
        lambda r: {"key": f"{_pick(r, ['ORD', 'INV', 'CUS'])}-{r.randrange(100, 999)}"},
        (
            "Use lookup_record for {key}.",
            "Please call lookup_record with key {key}.",
            "Look up record {key}.",
        ),
        "{key}: status shipped, 3 items",
        "Record {key} is shipped, with 3 items.",
    ),
]
# Questions answered without a tool, while something runs.
SMALL_TALK = [
    ("What is 12 times 12?", "12 times 12 is 144."),
    ("What's the capital of Canada?", "The capital of Canada is Ottawa."),
    ("How many days are in a leap year?", "A leap year has 366 days."),
    ("Which planet is the largest?", "Jupiter is the largest planet."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is 15 plus 27?", "15 plus 27 is 42."),
    ("What colour do you get from blue and yellow?", "Blue and yellow make green."),
    ("How many minutes are in two hours?", "Two hours are 120 minutes."),
]
LONG_ANSWERS = [
    (
        "Explain how a bicycle gear works.",
        "A bicycle gear links the pedals to the back wheel through a chain. A big front ring and a "
        "small back cog make the wheel turn many times per pedal stroke, which is fast but hard; "
        "a small ring and a big cog make it easy to climb but slow.",
        "Why is it hard?",
        "A big ring and a small cog mean each pedal stroke pushes the wheel further, so it "
        "takes more force. Shifting to a bigger back cog makes it easier.",
    ),
    (
        "Tell me how to plant a tomato.",
        "Pick a sunny spot and dig a hole deeper than the pot. Set the seedling in so the lower stem is "
        "buried, since it grows roots there, fill the hole, water well, and add a stake for support.",
        "I only have a balcony, what now?",
        "Use a large pot of at least twenty litres with drainage holes, "
        "put it where it gets six hours of sun, and water it every day in summer.",
    ),
    (
        "Describe how bread rises.",
        "Yeast in the dough eats the sugars in the flour and gives off carbon dioxide. The gluten network "
        "traps the gas in tiny bubbles, so the dough swells; baking then sets the structure.",
        "What if I have no yeast?",
        "Then use baking soda with buttermilk or yoghurt: the acid releases gas "
        "at once, so bake it right away, as soda bread.",
    ),
]


def _fill(template: str, values: dict[str, Any]) -> str:
    return template.format(**values)


def _tool_table(tools: Sequence[_Tool], latency: dict[str, float]) -> dict[str, Any]:
    return {
        t.name: {
            "description": t.description,
            "parameters": dict(t.parameters),
            "latency": latency[t.name],
            "result": t.result.replace("{count}", "{{count}}"),
        }
        for t in tools
    }


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def _result(tool: _Tool, values: dict[str, Any]) -> str:
    if "{count}" in tool.result:
        return tool.says.format(**values, count=len(str(values.get("text", "")).split()))
    return _fill(tool.says, values)


def _family(rng: random.Random, behaviour: str, n: int) -> dict[str, Any]:
    """One generated scenario (suite-file form) of a behaviour."""
    tools = rng.sample(TOOLS, 2)
    a, b = tools
    va, vb = a.values(rng), b.values(rng)
    latency = {a.name: float(rng.choice([20, 30, 45, 60, 90, 120])), b.name: float(rng.choice([2, 3, 5]))}
    ask_a = _fill(_pick(rng, a.asks), va)
    ask_b = _fill(_pick(rng, b.asks), vb)
    start_a = _pick(rng, a.starting)
    sid = f"gen-{behaviour.replace('_', '-')}-{n}"
    item: dict[str, Any] = {"id": sid, "behaviour": behaviour, "tools": [a.name, b.name]}
    checks: list[dict[str, Any]]
    if behaviour == "notification":
        q, ans = SMALL_TALK[rng.randrange(len(SMALL_TALK))]
        item["steps"] = [{"user": ask_a}, {"at": 1, "user": q}]
        item["reference"] = [
            {"text": start_a, "tool_calls": [_call(a.name, va)]},
            {"text": ans},
            {"text": _result(a, va)},
        ]
        checks = [{"call": a.name, "args": va, "count": 1}]
    elif behaviour == "quick_question":
        item["steps"] = [{"user": ask_a}, {"at": 5, "user": ask_b}]
        item["reference"] = [
            {"text": start_a, "tool_calls": [_call(a.name, va)]},
            {"text": _pick(rng, b.starting), "tool_calls": [_call(b.name, vb)]},
            {"text": _result(b, vb)},
            {"text": _result(a, va)},
        ]
        checks = [{"call": a.name, "count": 1}, {"call": b.name, "args": vb, "count": 1}]
    elif behaviour == "no_duplicate":
        again = _pick(
            rng, ["Is it done yet?", "Any news on that?", ask_a, "Hurry up please.", "Still waiting?"]
        )
        item["steps"] = [{"user": ask_a}, {"at": 10, "user": again}]
        item["reference"] = [
            {"text": start_a, "tool_calls": [_call(a.name, va)]},
            {
                "text": _pick(
                    rng,
                    [
                        "It is still running; I will tell you as soon as it is done.",
                        "Not yet, task t1 is still working on it.",
                        "Still in progress; the result will come as soon as it is ready.",
                    ],
                )
            },
            {"text": _result(a, va)},
        ]
        checks = [{"call": a.name, "count": 1}]
    elif behaviour == "cancel":
        stop = _pick(
            rng,
            [
                "Never mind, cancel that.",
                "Stop it, I don't need it any more.",
                f"Cancel the {a.name.replace('_', ' ')}.",
                "Forget it, please cancel.",
            ],
        )
        item["tools"] = [a.name]
        item["steps"] = [{"user": ask_a}, {"at": 8, "user": stop}]
        item["reference"] = [
            {"text": start_a, "tool_calls": [_call(a.name, va)]},
            {"text": "Cancelling it.", "tool_calls": [_call("cancel_task", {"task_id": "t1"})]},
            {"text": "Done, it is cancelled."},
        ]
        checks = [{"cancel": a.name}]
    elif behaviour == "interruption":
        ask, long, cut, short = LONG_ANSWERS[rng.randrange(len(LONG_ANSWERS))]
        item["tools"] = []
        item["steps"] = [
            {"user": ask},
            {"after_words": rng.choice([6, 8, 10]), "interrupt": True, "user": cut},
        ]
        item["reference"] = [{"text": long}, {"text": short}]
        checks = [{"no_repeat": 4}]
    elif behaviour == "timer":
        minutes = rng.choice([1, 2, 3, 5, 10, 15])
        chore = _pick(rng, ["the laundry", "the bread", "my call", "the parking meter", "the soup"])
        item["tools"] = [b.name]
        if rng.random() < 0.5:
            item["steps"] = [{"user": f"Remind me in {minutes} minutes about {chore}."}]
            item["reference"] = [
                {
                    "text": f"Timer set for {minutes} minutes.",
                    "tool_calls": [_call("set_timer", {"seconds": minutes * 60, "label": chore})],
                },
                {"text": f"Time for {chore}!"},
            ]
        else:
            seconds = rng.choice([20, 30, 45, 90])
            item["steps"] = [{"user": f"In {seconds} seconds, {ask_b[0].lower()}{ask_b[1:]}"}]
            item["reference"] = [
                {
                    "text": f"I will do that in {seconds} seconds.",
                    "tool_calls": [
                        _call("set_timer", {"seconds": seconds, "label": b.name.replace("_", " ")})
                    ],
                },
                {"text": _pick(rng, b.starting), "tool_calls": [_call(b.name, vb)]},
                {"text": _result(b, vb)},
            ]
        checks = [{"call": ["set_timer", "sleep"], "count": 1}]
    elif behaviour == "fork_spawn":
        item["tools"] = []
        name = _pick(rng, ["helper", "writer", "researcher", "drafter"])
        if rng.random() < 0.5:
            city = _pick(rng, CITIES)
            item["steps"] = [
                {"user": f"I'm visiting {city} next week with my parents; they like gardens."},
                {"user": "In the background, write a day plan based on what I told you."},
            ]
            item["reference"] = [
                {
                    "agent": "main",
                    "text": f"{city} with your parents sounds lovely; gardens are a good choice.",
                },
                {
                    "agent": "main",
                    "text": "A helper is drafting that plan now.",
                    "tool_calls": [
                        _call(
                            "fork",
                            {
                                "name": name,
                                "task": f"Write a day plan in {city} for the user's parents, "
                                "who like gardens.",
                            },
                        )
                    ],
                },
                {
                    "agent": name,
                    "text": f"Day plan: morning in the {city} botanical garden, lunch nearby, "
                    "a slow walk in the park.",
                },
                {
                    "agent": "main",
                    "text": f"The day plan is ready: the {city} botanical garden in the morning, "
                    "lunch, then a walk in the park.",
                },
            ]
            checks = [{"call": "fork"}, {"no_call": "spawn"}]
        else:
            topic = _pick(rng, TOPICS)
            item["steps"] = [
                {"user": f"Get a helper to collect two facts about {topic}; it needs nothing from our chat."}
            ]
            item["reference"] = [
                {
                    "agent": "main",
                    "text": f"Starting a helper on {topic}.",
                    "tool_calls": [_call("spawn", {"name": name, "task": f"Find two facts about {topic}."})],
                },
                {
                    "agent": name,
                    "text": f"Two facts about {topic}: it is growing fast, and it has a long history.",
                },
                {
                    "agent": "main",
                    "text": f"Two facts about {topic}: it is growing fast, and it has a long history.",
                },
            ]
            checks = [{"call": "spawn"}, {"no_call": "fork"}]
    else:  # parallel
        tool = a
        v1, v2 = tool.values(rng), tool.values(rng)
        while v2 == v1:
            v2 = tool.values(rng)
        item["tools"] = [tool.name]
        first = _fill(_pick(rng, tool.asks), v1)
        other = ", ".join(str(x) for x in v2.values())
        item["steps"] = [{"user": f"{first} And the same for {other}."}]
        item["reference"] = [
            {"text": "Checking both at once.", "tool_calls": [_call(tool.name, v1), _call(tool.name, v2)]},
            {"text": _result(tool, v1)},
            {"text": _result(tool, v2)},
        ]
        latency[tool.name] = 5.0
        checks = [{"call": tool.name, "args": v1}, {"call": tool.name, "args": v2}]
    item["checks"] = checks
    used = [t for t in tools if t.name in item["tools"]]
    return {"item": item, "tools": _tool_table(used, latency)}


def generated_suite(count: int, seed: int) -> list[Scenario]:
    """``count`` generated scenarios, the behaviours in turn, reproducible from ``seed``."""
    from .scenario import BEHAVIOURS

    rng = random.Random(seed)
    out: list[Scenario] = []
    for n in range(count):
        made = _family(rng, BEHAVIOURS[n % len(BEHAVIOURS)], n)
        suite = parse_suite({"tools": made["tools"], "scenario": [made["item"]]}, "generated", "generated")
        out.extend(suite.scenarios)
    return out


async def export(scenarios: Sequence[Scenario], path: Path) -> tuple[int, int, int]:
    """Write the pairs of every passing run; ``(dialogues kept, dropped, pairs)``."""
    kept = dropped = pairs = 0
    with path.open("w", encoding="utf-8") as out:
        for scenario in scenarios:
            if scenario.key in HELD_OUT:
                raise ValueError(f"{scenario.key} is held out and must not be trained on")
            got = await record(scenario)
            if got is None:
                dropped += 1
                continue
            kept += 1
            for pair in got:
                out.write(json.dumps(pair, ensure_ascii=False) + "\n")
                pairs += 1
    return kept, dropped, pairs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ipyagent.eval.dialogues", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="the JSONL file to write")
    p.add_argument("--generated", type=int, default=3000, help="how many generated dialogues")
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--no-reference", action="store_true", help="leave out the shipped reference scripts")
    args = p.parse_args(argv)
    scenarios = [] if args.no_reference else training_scenarios()
    scenarios += generated_suite(args.generated, args.seed)
    kept, dropped, pairs = anyio.run(export, scenarios, args.out)
    print(f"{kept} dialogues ({dropped} dropped), {pairs} prompt/completion pairs written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
