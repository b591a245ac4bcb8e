"""The voice widget in a real browser: JupyterLab + Chromium whose microphone is a WAV file of
espeak-ng speech (``--use-file-for-fake-audio-capture``). The spoken question must reach the
ledger as a voice turn, the answer must be synthesised, sent and reported played by the browser,
and a second utterance while the agent speaks must stop playback and truncate the ledger entry.

No cell runs while audio flows: comm messages from the browser wait behind a running cell."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ipyagent.testing.lab import CHROMIUM, FAKE_MIC_FLAGS, jupyter_lab, launch_chromium
from support.labkit import shot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian Chromium at {CHROMIUM}"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to make the speech"),
    pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox to mix the speech with silence"),
    pytest.mark.timeout(240),
]


COUGH = "*cough*"


def make_wav(path: Path, parts: list[str | float]) -> Path:
    """A 48 kHz mono WAV: each str is spoken by espeak-ng (``COUGH`` is a 200 ms cough: a loud
    burst of noise), each float is that many seconds of silence."""
    pieces = []
    for i, part in enumerate(parts):
        piece = path.with_name(f"{path.stem}-{i}.wav")
        if part == COUGH:
            noise = ["synth", "0.2", "brownnoise", "fade", "q", "0.03", "0.2", "0.08", "gain", "-n", "-3"]
            subprocess.run(
                ["sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(piece), *noise], check=True
            )
        elif isinstance(part, str):
            subprocess.run(["espeak-ng", "-s", "150", "-w", str(piece), part], check=True)
        else:
            subprocess.run(
                ["sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(piece), "trim", "0", str(part)],
                check=True,
            )
        pieces.append(str(piece))
    subprocess.run(["sox", *pieces, "-r", "48000", "-c", "1", "-b", "16", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def voice_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path_factory.mktemp("voice-lab")
    with jupyter_lab(root, root / ".lab", timeout=60) as lab:
        yield lab.url, lab.token, root


SETUP = """\
import asyncio, json
from ipyagent import Agent
from ipyagent.widgets import voice
agent = Agent("scripted:script.json", builtins=False)
asyncio.get_running_loop().create_task(agent.run())
w = voice(agent, tts="piper")
w.warm_up()
w"""

LEDGER = """\
rows = [[e.kind, e.text, e.source, e.status, round(e.time % 1000, 2)] for e in agent.ledger]
rows = [r for r in rows if r[0] != "system"]
print("LEDGER" + json.dumps(rows))
print("MARKS" + json.dumps(w.pipeline.marks.times))
import sys, threading, traceback
for t in threading.enumerate():
    if t.name.startswith("ipyagent-stt") and t.ident in sys._current_frames():
        print("STT", "".join(traceback.format_stack(sys._current_frames()[t.ident]))[-1500:])"""


def run_notebook(voice_lab: tuple[str, str, Path], name: str, wav: Path, script: list[dict[str, Any]]) -> Any:
    from playwright.sync_api import sync_playwright

    url, token, root = voice_lab
    (root / "script.json").write_text(json.dumps(script))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(LEDGER)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / f"{name}.ipynb")
    pw = sync_playwright().start()
    browser = launch_chromium(pw, [*FAKE_MIC_FLAGS, f"--use-file-for-fake-audio-capture={wav}"])
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(f"{url}/lab/tree/{name}.ipynb?reset&token={token}")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    page.locator(".jp-CodeCell .jp-InputArea-prompt").first.click()
    page.keyboard.press("Shift+Enter")  # run the set-up cell; it returns once models are loaded
    page.locator(".ipyagent-voice").wait_for(timeout=90_000)
    page.wait_for_function(
        "() => /\\[1\\]/.test(document.querySelector('.jp-CodeCell .jp-InputArea-prompt').textContent)",
        timeout=90_000,
    )
    return pw, browser, page


def read_ledger(page: Any) -> list[list[str]]:
    page.locator(".jp-CodeCell").nth(1).locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    out = page.locator(".jp-CodeCell").nth(1).locator(".jp-OutputArea-output").filter(has_text="LEDGER")
    out.wait_for(timeout=30_000)
    text: str = out.inner_text()
    print(text)  # shown when a test fails: the ledger with times, and the pipeline's milestones
    line = next(x for x in text.splitlines() if x.startswith("LEDGER"))
    return [row[:4] for row in json.loads(line[6:])]


def wait_or_explain(page: Any, name: str, condition: str, timeout: int = 60_000) -> None:
    """Wait for ``condition``; on timeout, keep a screenshot and fail with the widget and ledger."""
    try:
        page.wait_for_function(condition, timeout=timeout)
    except Exception:
        shot(page, name)
        widget = page.locator(".ipyagent-voice").inner_text()
        raise AssertionError(f"timed out; widget: {widget!r}; ledger: {read_ledger(page)}") from None


def test_a_spoken_question_is_answered_aloud(voice_lab: tuple[str, str, Path], tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "question.wav", [0.5, "What is the weather in Paris?", 60.0])
    answer = "It is sunny in Paris. Take a hat."
    pw, browser, page = run_notebook(voice_lab, "voice_turn", wav, [{"delay": 0.3, "text": answer}])
    try:
        page.locator(".ipyagent-voice button.mic").click()
        # Both sentences synthesised, sent and reported played by the browser.
        page.wait_for_function(
            "() => Number(document.querySelector('.ipyagent-voice').dataset.played) >= 2", timeout=60_000
        )
        page.wait_for_function(
            "() => document.querySelector('.ipyagent-voice').dataset.agentState === 'idle'", timeout=30_000
        )
        shot(page, "voice_turn")
        ledger = read_ledger(page)
        user = [e for e in ledger if e[0] == "user"]
        assert len(user) == 1, ledger
        assert user[0][2] == "voice"
        assert "weather" in user[0][1].lower() and "paris" in user[0][1].lower()
        assert ["assistant", answer, None, "complete"] in ledger
        transcript = page.locator(".ipyagent-voice .transcript").inner_text()
        assert "paris" in transcript.lower()
    finally:
        browser.close()
        pw.stop()


def test_speaking_over_the_agent_stops_it_and_the_ledger_keeps_what_was_heard(
    voice_lab: tuple[str, str, Path], tmp_path: Path
) -> None:
    wav = make_wav(
        tmp_path / "barge.wav", [0.5, "What is the weather in Paris?", 14.0, "Stop, please stop.", 60.0]
    )
    long = (
        "It will be sunny. "
        "Paris will have a light breeze from the west all morning. "
        "In the afternoon clouds will gather over the river and it may rain a little. "
        "Tomorrow looks warmer, so pack a hat, some water and an umbrella for the evening. "
        "The museums stay open late on Thursdays, and the gardens close at nine. "
        "If you take the river boat, sit on the left side for the best view of the towers."
    )
    script = [{"delay": 0.3, "text": long}, {"delay": 0.3, "text": "Okay."}]
    pw, browser, page = run_notebook(voice_lab, "voice_barge", wav, [*script])
    try:
        page.locator(".ipyagent-voice button.mic").click()
        wait_or_explain(
            page,
            "voice_barge_in_failed",
            "() => Number(document.querySelector('.ipyagent-voice').dataset.stopped) >= 1",
        )
        # Then the second utterance is transcribed and answered, and everything goes quiet.
        wait_or_explain(
            page,
            "voice_barge_in_failed",
            """() => {
              const v = document.querySelector('.ipyagent-voice');
              const heard = v.querySelector('.transcript').textContent.toLowerCase();
              return heard.includes('stop') && v.dataset.agentState === 'idle'
                && !v.querySelector('.speaker').classList.contains('playing');
            }""",
            90_000,
        )
        shot(page, "voice_barge_in")
        ledger = read_ledger(page)
        kinds = [e[0] for e in ledger]
        assert kinds[:3] == ["user", "assistant", "interruption"], ledger
        cut = ledger[1]
        assert cut[3] == "interrupted"
        assert cut[1] and long.startswith(cut[1]) and len(cut[1]) < len(long), cut
        assert "towers" not in cut[1]
        second = [e for e in ledger if e[0] == "user"][1:]
        assert second and second[0][2] == "voice" and "stop" in second[0][1].lower(), ledger
    finally:
        browser.close()
        pw.stop()


def test_a_cough_during_the_answer_does_not_lose_it(voice_lab: tuple[str, str, Path], tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "cough.wav", [0.5, "What is the weather in Paris?", 9.0, COUGH, 60.0])
    long = (
        "It will be sunny. "
        "Paris will have a light breeze from the west all morning. "
        "In the afternoon clouds will gather over the river and it may rain a little. "
        "Tomorrow looks warmer, so pack a hat, some water and an umbrella for the evening."
    )
    pw, browser, page = run_notebook(voice_lab, "voice_cough", wav, [{"delay": 0.3, "text": long}])
    try:
        page.locator(".ipyagent-voice button.mic").click()
        # The cough pauses the speaker...
        wait_or_explain(
            page,
            "voice_cough_failed",
            "() => Number(document.querySelector('.ipyagent-voice').dataset.stopped) >= 1",
        )
        # ...the widget says it was a false interruption...
        wait_or_explain(
            page,
            "voice_cough_failed",
            "() => document.querySelector('.ipyagent-voice').innerText.toLowerCase()"
            ".includes('false interruption')",
        )
        shot(page, "voice_cough_noted")
        # ...and the answer resumes and plays to its end.
        wait_or_explain(
            page,
            "voice_cough_failed",
            """() => {
              const v = document.querySelector('.ipyagent-voice');
              const playing = v.querySelector('.speaker').classList.contains('playing');
              return v.dataset.agentState === 'idle' && !playing;
            }""",
            90_000,
        )
        shot(page, "voice_cough_resumed")
        ledger = read_ledger(page)
        kinds = [e[0] for e in ledger]
        assert kinds == ["user", "interruption", "assistant"], ledger
        assert ledger[1][3] == "false" and "resumed from" in ledger[1][1], ledger
        assert ledger[2][1:] == [long, None, "complete"], ledger
    finally:
        browser.close()
        pw.stop()
