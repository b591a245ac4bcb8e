"""Voice latency, offline, on this machine: one spoken turn broken down by stage, for today's
settings and each lever of the new pipeline, side by side in one run; and barge-in.

    PYTHONPATH=src python bench/voice.py [--repeat 5] [--model scripted|local]

Speech comes from espeak-ng, fed to the pipeline frame by frame in real time (30 ms frames), as
the browser sends it; the speaker is :class:`ClockSpeaker` playing on the real clock (the browser
adds its own output latency, typically 10-40 ms, not counted here). Stages of one turn:

- end of turn: from the real end of speech (the last loud sample) to the decision that the user
  is done (the VAD's silence hangover, or Smart Turn hearing a finished sentence at the first
  pause);
- STT (rest): Whisper tiny.en on the utterance, from that decision to the transcript (it starts at
  the first pause, so part of it hides under the end-of-turn wait);
- model first sentence: from the transcript to the first piece of the answer ready to speak;
- TTS first chunk: synthesising that piece (piper, voice joe);
- first audio out: from the synthesised chunk to its first sound playing (the speaker started it,
  and the chunk's lead-in silence, if any, has played).

The setups, each adding one lever to the one before: ``before`` (the pipeline's old settings:
silence hangover of 300 ms, first sentence spoken first, Whisper's 30 s window; recognition
already starts at the first 90 ms pause), ``+ Smart Turn`` (semantic end of turn, asked after
210 ms of silence), ``+ first clause`` (the first clause of the answer is synthesised, not the
first sentence), ``+ fitted window`` (Whisper's encoder gets the utterance plus 5 s instead of a
30 s window), ``+ speculation`` (the model starts on the early transcript at the pause and the
first piece of its answer is synthesised then), ``+ verdict at 90 ms`` (Smart Turn is asked at the
first pause and its verdict acted on at 210 ms), ``+ lead-in cut`` (10 ms of piper's lead-in
silence kept, not 30-65 ms: the new pipeline, as the voice widget runs it); then two variants of
the new one: piper on two threads, and no recognition during speech (the utterance is recognised
only once its end is decided), to show what each is worth. ``--only NAME`` runs some columns.

Below the table, each setup's milestones (median seconds after the end of speech): when the early
transcript, the speculation, its prepared speech, the verdict and the first sound came.

Barge-in: from the real onset of the user's speech (first loud sample) to the speaker stopped.
Prints a table; writes bench/results/voice.json and bench/results/voice.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from ipyagent import Agent, RealClock
from ipyagent.audio.frames import SAMPLE_RATE, FrameFormat, Int16Array, read_wav, resample, split_frames
from ipyagent.audio.pipeline import VoicePipeline
from ipyagent.audio.speech import FIRST_CLAUSE_WORDS, LEAD_IN, ClockSpeaker, VoiceOutput
from ipyagent.audio.stt import WhisperTranscriber
from ipyagent.audio.tts import PiperSynthesizer
from ipyagent.audio.turns import SmartTurn
from ipyagent.audio.vad import VadConfig
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import wait_for

RESULTS = Path(__file__).parent / "results"
STAGES = ["end of turn", "STT (rest)", "model first sentence", "TTS first chunk", "first audio out"]
TURN_GOAL, BARGE_GOAL = 0.8, 0.150
# The first sentence is short enough to go whole (under 80 characters) but has a clause.
ANSWER = "It is sunny in Paris right now, with twenty degrees this afternoon. Take a jacket for tonight."


@dataclass(frozen=True)
class Setup:
    name: str
    turn_detection: bool = False
    early_verdict: bool = False  # the turn detector asked at the first pause (90 ms), not at 210 ms
    first_clause_words: int = 0
    fit_window: bool = False
    speculate: bool = False
    lead_in: float | None = None  # None: piper's own lead-in silence is played
    piper_threads: int = 1
    early_recognition: bool = True


FIRST_CLAUSE = Setup("+ first clause", turn_detection=True, first_clause_words=FIRST_CLAUSE_WORDS)
FITTED = dataclasses.replace(FIRST_CLAUSE, name="+ fitted window", fit_window=True)
SPECULATION = dataclasses.replace(FITTED, name="+ speculation", speculate=True)
VERDICT = dataclasses.replace(SPECULATION, name="+ verdict at 90 ms", early_verdict=True)
NEW = dataclasses.replace(VERDICT, name="+ lead-in cut", lead_in=LEAD_IN)  # as the voice widget runs
SETUPS = [
    Setup("before"),
    Setup("+ Smart Turn", turn_detection=True),
    FIRST_CLAUSE,
    FITTED,
    SPECULATION,
    VERDICT,
    NEW,
    dataclasses.replace(NEW, name="new, piper 2 thr.", piper_threads=2),
    dataclasses.replace(NEW, name="new, no early STT", early_recognition=False),
]


def speech(text: str) -> Int16Array:
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", "160", text], capture_output=True, check=True).stdout
    samples, rate = read_wav(wav)
    return resample(samples, rate, SAMPLE_RATE)


def loud_span(samples: Int16Array, rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """Seconds from the start of ``samples`` to its first and past its last loud sample."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
    return loud[0] / rate, (loud[-1] + 1) / rate


async def feed_realtime(pipeline: VoicePipeline, samples: Int16Array) -> float:
    """Feed frames as a microphone would; returns the wall-clock time the audio started."""
    fmt = FrameFormat()
    frames = split_frames(samples.astype("<i2").tobytes(), fmt)
    start = time.monotonic()
    for i, frame in enumerate(frames):
        due = start + (i + 1) * fmt.frame_ms / 1000  # a frame arrives once it has been recorded
        await anyio.sleep(max(0.0, due - time.monotonic()))
        pipeline.feed(frame, SAMPLE_RATE)
    return start


def local_backend(clock: RealClock) -> Any:
    from ipyagent.dispatch.backends import resolve

    return resolve("local", clock)


async def run_setup(
    setup: Setup,
    repeat: int,
    model: str,
    synths: dict[int, PiperSynthesizer],
    whisper: dict[bool, WhisperTranscriber],
    turns: SmartTurn,
) -> dict[str, Any]:
    clock = RealClock()
    room = np.random.default_rng(5).normal(0, 30, 16000).astype(np.int16)  # the mic is switched on
    question = np.concatenate([room, speech("What is the weather in Paris?"), np.zeros(16000, np.int16)])
    # Two seconds of silence after it: a mic sends frames until switched off, and an utterance
    # heard as unfinished stays open for up to 1.5 s of them.
    stop = np.concatenate([np.zeros(4800, np.int16), speech("Stop, please."), np.zeros(32000, np.int16)])
    q_end = 1.0 + loud_span(question[16000:])[1]
    s_onset = 0.3 + loud_span(stop[4800:])[0]

    speaker = ClockSpeaker(clock, report_ms=10)
    output = VoiceOutput(
        synths[setup.piper_threads],
        speaker,
        clock,
        first_clause_words=setup.first_clause_words,
        lead_in=setup.lead_in,
    )
    speaker.output = output
    backend = (
        ScriptedBackend.from_list(
            [{"delay": 0.15, "text": ANSWER}, {"delay": 0.05, "text": "Okay."}] * repeat, clock
        )
        if model == "scripted"
        else local_backend(clock)
    )
    rows: list[dict[str, float]] = []
    timelines: list[dict[str, float]] = []  # each turn's milestones, seconds after the end of speech
    barge: list[float] = []
    async with (
        Agent(backend, clock=clock, output=output, builtins=False) as agent,
        anyio.create_task_group() as tg,
    ):
        pipeline = VoicePipeline(
            agent,
            output,
            whisper[setup.fit_window],
            vad=VadConfig(onset_frames=3, hangover_frames=10),
            turn_detector=turns if setup.turn_detection else None,
            speculate=setup.speculate,
        )
        pipeline.early_recognition = setup.early_recognition
        if not setup.early_verdict:
            pipeline.turn_verdict_frames = pipeline.turn_check_frames
        pipeline.stt_timeout = 120  # a loaded machine: measure it, do not give up on it
        tg.start_soon(speaker.run)
        await tg.start(pipeline.run)
        m = pipeline.marks.times
        for i in range(repeat):
            pipeline.marks.reset()
            if i == 0:
                pipeline.restart_sequence()
            started_before = len(speaker.starts)
            start = await feed_realtime(pipeline, question)
            with anyio.fail_after(180):
                await wait_for(agent, lambda: "played" in m)
            end_of_speech = start + q_end
            # The first sound of the answer: its first chunk began to play, and its lead-in
            # silence (if any) has passed.
            chunk, began = speaker.starts[started_before]
            audible = began + loud_span(chunk.samples, chunk.sample_rate)[0]
            rows.append(
                {
                    "end of turn": m["speech_end"] - end_of_speech,
                    "STT (rest)": m["transcript"] - m["speech_end"],
                    "model first sentence": m["first_sentence"] - m["transcript"],
                    "TTS first chunk": m["tts_first_chunk"] - m["first_sentence"],
                    "first audio out": audible - m["tts_first_chunk"],
                }
            )
            timelines.append({name: t - end_of_speech for name, t in sorted(m.items(), key=lambda kv: kv[1])})
            timelines[-1]["audible"] = audible - end_of_speech
            # The user talks over the answer.
            speaker.stopped_at = None
            start = await feed_realtime(pipeline, stop)
            with anyio.fail_after(180):
                await wait_for(agent, lambda: speaker.stopped_at is not None and agent.is_settled())
            assert speaker.stopped_at is not None
            barge.append(speaker.stopped_at - (start + s_onset))
        hits = pipeline.early_hits
        speculations = dict(agent.dispatcher.speculations)
        pipeline.close()
        tg.cancel_scope.cancel()
    med = {stage: statistics.median(r[stage] for r in rows) for stage in STAGES}
    totals = [sum(r.values()) for r in rows]
    return {
        "setup": setup.name,
        "turns": rows,
        "timelines": timelines,
        "median": med,
        "total_median": statistics.median(totals),
        "barge_in": barge,
        "barge_in_median": statistics.median(barge),
        "early_hits": hits,
        "speculations": speculations,
    }


def profile(repeat: int) -> dict[str, dict[str, float]]:
    """Each model's work in one turn, alone: wall seconds and CPU seconds (all threads), median
    of ``repeat``. On a loaded machine the wall time grows with the load, the CPU time hardly:
    what a quiet machine would take is about the CPU time spread over the threads."""
    question = speech("What is the weather in Paris?")
    pcm = np.concatenate([question, np.zeros(2400, np.int16)]).astype("<i2").tobytes()
    synth, synth2 = PiperSynthesizer(), PiperSynthesizer(threads=2)
    turns = SmartTurn()
    turns.complete(pcm)
    session, _ = turns.model.get()
    features = turns.features(pcm)[None]
    work = {
        "Smart Turn verdict": lambda: turns.complete(pcm),
        "  its features": lambda: turns.features(pcm),
        "  its model": lambda: session.run(None, {"input_features": features}),
        "Whisper, 30 s window": lambda: WHISPER[False].transcribe(pcm),
        "Whisper, fitted window": lambda: WHISPER[True].transcribe(pcm),
        "piper, first clause": lambda: synth.synthesize("It is sunny in Paris right now,"),
        "piper, 2 threads, clause": lambda: synth2.synthesize("It is sunny in Paris right now,"),
        "piper, first sentence": lambda: synth.synthesize(ANSWER.split(". ")[0] + "."),
    }
    for fn in work.values():
        fn()  # loads and warms up
    out: dict[str, dict[str, float]] = {}
    for name, fn in work.items():
        walls, cpus = [], []
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        out[name] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}
    print(f"\nEach model alone, median of {repeat}, seconds (CPU: all threads of the process)")
    print(f"{'work':<26}{'wall':>8}{'CPU':>8}")
    for name, r in out.items():
        print(f"{name:<26}{r['wall']:>8.3f}{r['cpu']:>8.3f}")
    return out


WHISPER: dict[bool, WhisperTranscriber] = {}


async def main(repeat: int, model: str, only: list[str]) -> dict[str, Any]:
    t = time.monotonic()
    synths = {threads: PiperSynthesizer(threads=threads) for threads in (1, 2)}
    for synth in synths.values():
        synth.synthesize("Warm up.")
    piper_load = time.monotonic() - t
    t = time.monotonic()
    whisper = WHISPER
    whisper.update({fit: WhisperTranscriber(fit_window=fit) for fit in (False, True)})
    for w in whisper.values():
        w.transcribe(speech("Warm up.").astype("<i2").tobytes())
    whisper_load = time.monotonic() - t
    t = time.monotonic()
    turns = SmartTurn()
    turns.complete(speech("Warm up.").astype("<i2").tobytes())
    turn_load = time.monotonic() - t
    setups = [s for s in SETUPS if not only or s.name in only]
    results = [await run_setup(s, repeat, model, synths, whisper, turns) for s in setups]

    print(
        f"\nVoice latency, median of {repeat} turns per setup, seconds (model: {model}; loads not "
        f"counted: piper {piper_load:.1f} s, Whisper {whisper_load:.1f} s, Smart Turn {turn_load:.1f} s)"
    )
    width = max(len(s.name) for s in setups) + 2
    print(f"{'stage':<24}" + "".join(f"{s.name:>{width}}" for s in setups))
    for stage in STAGES:
        print(f"{stage:<24}" + "".join(f"{r['median'][stage]:>{width}.3f}" for r in results))
    print(f"{'end of speech -> audio':<24}" + "".join(f"{r['total_median']:>{width}.3f}" for r in results))
    print(f"{'barge-in onset -> stop':<24}" + "".join(f"{r['barge_in_median']:>{width}.3f}" for r in results))
    print(
        f"{'speculations used':<24}"
        + "".join(f"{str(r['speculations']['adopted']) + '/' + str(repeat):>{width}}" for r in results)
    )
    timeline(results)
    best = next((r for r in results if r["setup"] == NEW.name), results[-1])
    print(
        f"goal end of speech -> first audio <= {TURN_GOAL:.1f} s: "
        f"{'PASS' if best['total_median'] <= TURN_GOAL else 'MISS'} ({best['total_median']:.3f} s); "
        f"barge-in <= {BARGE_GOAL * 1000:.0f} ms: "
        f"{'PASS' if best['barge_in_median'] <= BARGE_GOAL else 'MISS'}"
    )
    return {
        "model": model,
        "repeat": repeat,
        "setups": results,
        "load_seconds": {"piper": piper_load, "whisper": whisper_load, "smart_turn": turn_load},
    }


def timeline(results: list[dict[str, Any]]) -> None:
    """Each setup's milestones, median seconds after the end of speech (negative: before it)."""
    names: list[str] = []
    for r in results:
        for t in r["timelines"]:
            names += [n for n in t if n not in names]
    every = [t for r in results for t in r["timelines"]]
    order = sorted(names, key=lambda n: statistics.median(t[n] for t in every if n in t))
    print("\nMilestones, median seconds after the end of speech ('-': not reached in any turn)")
    width = max(len(r["setup"]) for r in results) + 2
    print(f"{'milestone':<24}" + "".join(f"{r['setup']:>{width}}" for r in results))
    for name in order:
        cells = []
        for r in results:
            ts = [t[name] for t in r["timelines"] if name in t]
            cells.append(f"{statistics.median(ts):>{width}.3f}" if ts else f"{'-':>{width}}")
        print(f"{name:<24}" + "".join(cells))


def chart(fig_data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = fig_data["setups"]
    colors = ["#8250df", "#0969da", "#1a7f37", "#bf8700", "#cf222e"]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.6 * len(results)))
    for y, r in enumerate(reversed(results)):
        left = 0.0
        for stage, color in zip(STAGES, colors, strict=True):
            value = r["median"][stage]
            ax.barh(y, value, left=left, color=color, label=stage if y == 0 else None)
            left += value
        ax.text(left + 0.02, y, f"{r['total_median'] * 1000:.0f} ms", va="center", fontsize=8)
    ax.axvline(TURN_GOAL, color="black", linestyle="--", linewidth=1)
    ax.text(TURN_GOAL, len(results) - 0.4, f" goal {TURN_GOAL * 1000:.0f} ms", va="center")
    ax.set_yticks(range(len(results)), [r["setup"] for r in reversed(results)])
    ax.set_xlabel("seconds from the end of the user's speech to the first audio out (median)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=5, fontsize=7, frameon=False)
    ax.set_title(f"Voice latency on this machine (offline, model: {fig_data['model']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", choices=["scripted", "local"], default="scripted")
    parser.add_argument("--profile", action="store_true", help="only time each model alone (wall and CPU)")
    parser.add_argument("--only", action="append", default=[], help="run only this setup (repeatable)")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("bench/voice.py needs espeak-ng to make the speech (apt-get install espeak-ng)")
    if args.profile:
        WHISPER.update({fit: WhisperTranscriber(fit_window=fit) for fit in (False, True)})
        stages = profile(args.repeat)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "voice_profile.json").write_text(json.dumps(stages, indent=2))
        sys.exit(0)
    data = anyio.run(main, args.repeat, args.model, args.only)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "voice.json").write_text(json.dumps(data, indent=2))
    chart(data, RESULTS / "voice.png")
    print(f"wrote {RESULTS / 'voice.json'} and {RESULTS / 'voice.png'}")
