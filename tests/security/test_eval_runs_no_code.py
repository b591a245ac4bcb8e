"""The eval harness never runs code: its agents have only simulated tools, so a model that asks
to run Python (or a suite that declares a tool of that name) executes nothing."""

from __future__ import annotations

from pathlib import Path

from ipyagent.clock import Clock
from ipyagent.dispatch.backends import Backend, ScriptedBackend
from ipyagent.eval.loader import load_suite
from ipyagent.eval.runner import reference_model, run_scenario

SUITE = """
[tools.get_weather]
description = "Current weather for a city."
parameters = {{ city = "string" }}
result = "{{city}}: sunny"

[tools.run_python]
description = "Run Python code in the user's notebook."
parameters = {{ code = "string" }}
result = "simulated: {{code}}"

[[scenario]]
id = "undeclared"
behaviour = "quick_question"
tools = ["get_weather"]
steps = [{{ user = "What's the weather?" }}]
checks = [{{ call = "get_weather" }}]

[[scenario]]
id = "declared"
behaviour = "quick_question"
tools = ["run_python"]
steps = [{{ user = "Run it." }}]
checks = [{{ call = "run_python" }}]
reference = [
  {{ text = "Running.", tool_calls = [{{ name = "run_python", arguments = {{ code = {code} }} }}] }},
  {{ text = "Done." }},
]
"""


async def test_a_model_asking_to_run_code_in_an_eval_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    code = f"open({str(marker)!r}, 'w').write('x')"
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(code='"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'))
    undeclared, declared = load_suite(path).scenarios

    def asks_for_code(scenario: object, clock: Clock) -> Backend:
        turns = [
            {"text": "Checking.", "tool_calls": [{"name": "run_python", "arguments": {"code": code}}]},
            {"text": "Done."},
        ]
        return ScriptedBackend.from_list(turns, clock)

    first = await run_scenario(undeclared, asks_for_code)
    [call] = [e for e in first.entries if e.kind == "tool_result"]
    assert (call.name, call.status) == ("run_python", "rejected")
    second = await run_scenario(declared, reference_model)
    result = next(e for e in second.entries if e.kind == "notification" and e.name == "run_python")
    assert result.text == f"simulated: {code}"  # the suite's canned answer, not a run
    assert not marker.exists()
