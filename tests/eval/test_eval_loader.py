"""Suite files with mistakes give one clear error naming the file, the scenario and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipyagent.eval import ScenarioError, find_suites, load_suite

GOOD_TOOL = """
[tools.get_weather]
description = "Current weather for a city."
parameters = { city = "string" }
latency = 2
result = "{city}: sunny"
"""

GOOD_SCENARIO = """
[[scenario]]
id = "weather"
behaviour = "notification"
tools = ["get_weather"]
steps = [{ user = "Weather in Paris?" }]
checks = [{ call = "get_weather", args = { city = "Paris" } }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ScenarioError:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD_TOOL + GOOD_SCENARIO))
    assert suite.name == "mine"
    (scenario,) = suite.scenarios
    assert scenario.key == "mine/weather"
    assert scenario.tools[0].answer({"city": "Oslo"}) == "Oslo: sunny"
    assert scenario.steps[0].after == "start"
    assert scenario.checks[0].metric == "tools"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('behaviour = "notification"', 'behaviour = "telepathy"'), "'behaviour' must be one of"),
        (('tools = ["get_weather"]', 'tools = ["get_wether"]'), "unknown tool(s) ['get_wether']"),
        (
            ('{ call = "get_weather"', '{ call = "book_hotel"'),
            "check 1: 'book_hotel' is not one of its tools",
        ),
        (("args = {", "argz = {"), "check 1 has unknown key(s) ['argz']"),
        (('{ user = "Weather in Paris?" }', "{ at = 3 }"), "step 1 does nothing"),
        (
            ('{ user = "Weather in Paris?" }', '{ at = 3, after = "reply", user = "x" }'),
            "'at' cannot be combined",
        ),
        (
            ('{ user = "Weather in Paris?" }', '{ after = "notification:nope", user = "x" }'),
            "step 1: 'after' must name",
        ),
        (("checks = [", "checks = [{ say = [] }, "), "check 1: 'say' must be a word or a list of words"),
        (("checks = [", "checks = [{ no_repeat = 1 }, "), "'no_repeat' must be a number of words >= 2"),
        (
            ("checks = [", 'checks = [{ say = "x", after_step = 4 }, '),
            "'after_step' must be a step number from 1 to 1",
        ),
        (('id = "weather"', 'id = "weather"\nlimit = -5'), "'limit' must be a number >= 1"),
        (
            (
                'id = "weather"',
                'id = "weather"\nreference = [{ text = "hi", tool_calls = [{ name = "fly" }] }]',
            ),
            "reference turn 0 calls 'fly'",
        ),
        (
            ('id = "weather"', 'id = "weather"\nreference = [{ txt = "hi" }]'),
            "reference: unknown key(s) ['txt']",
        ),
    ],
)
def test_each_mistake_names_the_scenario_and_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD_TOOL + GOOD_SCENARIO
    error = error_for(tmp_path, GOOD_TOOL + GOOD_SCENARIO.replace(old, new, 1))
    assert error.scenario == "weather"
    assert message in str(error), str(error)


def test_suite_level_mistakes(tmp_path: Path) -> None:
    assert "not valid TOML" in str(error_for(tmp_path, "this is = = not toml"))
    assert "no scenarios" in str(error_for(tmp_path, GOOD_TOOL))
    assert "used twice" in str(error_for(tmp_path, GOOD_TOOL + GOOD_SCENARIO + GOOD_SCENARIO))
    bad_type = GOOD_TOOL.replace('city = "string"', 'city = "text"')
    assert "unknown type 'text'" in str(error_for(tmp_path, bad_type + GOOD_SCENARIO))
    no_description = GOOD_TOOL.replace('description = "Current weather for a city."', "")
    assert "needs a 'description'" in str(error_for(tmp_path, no_description + GOOD_SCENARIO))
    builtin = GOOD_TOOL.replace("[tools.get_weather]", "[tools.sleep]")
    assert "built-in tool" in str(error_for(tmp_path, builtin + GOOD_SCENARIO))


def test_missing_file_and_unknown_suite_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_suite(tmp_path / "nope.toml")
    with pytest.raises(
        ScenarioError, match="no such suite; shipped suites: async_basics, control, delegation"
    ):
        find_suites(["nonsense"])
