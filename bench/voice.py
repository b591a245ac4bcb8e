"""Voice latency, offline, on this machine: one spoken turn broken down by stage, and barge-in.

    PYTHONPATH=src python bench/voice.py [--repeat 3] [--model scripted|local]

Speech comes from espeak-ng, fed to the pipeline frame by frame in real time (30 ms frames), as
the browser sends it; the speaker is :class:`ClockSpeaker` playing on the real clock (the browser
adds its own output latency, typically 10-40 ms, not counted here). Stages of one turn:

- VAD end of speech: from the real end of speech (the last loud sample) to the VAD's decision
  (mostly the hangover: frames of silence it waits for before deciding the user is done);
- STT (rest): Whisper tiny.en on the utterance, from the VAD's decision to the transcript (it
  starts at the first pause, so part of it hides under the VAD's hangover);
- model first sentence: from the transcript to the first complete sentence of the answer;
- TTS first chunk: synthesising that sentence (piper, voice joe);
- first audio out: from the synthesised chunk to the speaker reporting it playing.

Barge-in: from the real onset of the user's speech (first loud sample) to the speaker stopped.
Prints a table; writes bench/results/voice.json and bench/results/voice.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from ipyagent import Agent, RealClock
from ipyagent.audio.frames import SAMPLE_RATE, FrameFormat, Int16Array, read_wav, resample, split_frames
from ipyagent.audio.pipeline import VoicePipeline
from ipyagent.audio.speech import ClockSpeaker, VoiceOutput
from ipyagent.audio.stt import WhisperTranscriber
from ipyagent.audio.tts import PiperSynthesizer
from ipyagent.audio.vad import VadConfig
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import wait_for

RESULTS = Path(__file__).parent / "results"
STAGES = ["VAD end of speech", "STT (rest)", "model first sentence", "TTS first chunk", "first audio out"]
TURN_GOAL, BARGE_GOAL = 1.0, 0.150
ANSWER = "It is sunny in Paris. Expect twenty degrees this afternoon, with a light breeze from the river."


def speech(text: str) -> Int16Array:
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", "160", text], capture_output=True, check=True).stdout
    samples, rate = read_wav(wav)
    return resample(samples, rate, SAMPLE_RATE)


def loud_span(samples: Int16Array) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
    return loud[0] / SAMPLE_RATE, (loud[-1] + 1) / SAMPLE_RATE


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


async def main(repeat: int, model: str) -> dict[str, Any]:
    clock = RealClock()
    t = time.monotonic()
    synth = PiperSynthesizer()
    synth.synthesize("Warm up.")
    piper_load = time.monotonic() - t
    t = time.monotonic()
    whisper = WhisperTranscriber()
    whisper.model.get()
    whisper_load = time.monotonic() - t
    question = np.concatenate(
        [np.zeros(8000, np.int16), speech("What is the weather in Paris?"), np.zeros(16000, np.int16)]
    )
    stop = np.concatenate([np.zeros(4800, np.int16), speech("Stop, please."), np.zeros(16000, np.int16)])
    q_end = 0.5 + loud_span(question[8000:])[1]
    s_onset = 0.3 + loud_span(stop[4800:])[0]

    speaker = ClockSpeaker(clock, report_ms=10)
    output = VoiceOutput(synth, speaker, clock)
    speaker.output = output
    backend = (
        ScriptedBackend.from_list(
            [{"delay": 0.15, "text": ANSWER}, {"delay": 0.05, "text": "Okay."}] * repeat, clock
        )
        if model == "scripted"
        else local_backend(clock)
    )
    turns: list[dict[str, float]] = []
    barge: list[float] = []
    async with (
        Agent(backend, clock=clock, output=output, builtins=False) as agent,
        anyio.create_task_group() as tg,
    ):
        pipeline = VoicePipeline(agent, output, whisper, vad=VadConfig(onset_frames=3, hangover_frames=10))
        tg.start_soon(speaker.run)
        await tg.start(pipeline.run)
        m = pipeline.marks.times
        for _ in range(repeat):
            pipeline.marks.reset()
            start = await feed_realtime(pipeline, question)
            with anyio.fail_after(60):
                await wait_for(agent, lambda: "played" in m)
            end_of_speech = start + q_end
            turns.append(
                {
                    "VAD end of speech": m["speech_end"] - end_of_speech,
                    "STT (rest)": m["transcript"] - m["speech_end"],
                    "model first sentence": m["first_sentence"] - m["transcript"],
                    "TTS first chunk": m["tts_first_chunk"] - m["first_sentence"],
                    "first audio out": m["played"] - m["tts_first_chunk"],
                }
            )
            # The user talks over the answer.
            speaker.stopped_at = None
            start = await feed_realtime(pipeline, stop)
            with anyio.fail_after(60):
                await wait_for(agent, lambda: speaker.stopped_at is not None and agent.is_settled())
            assert speaker.stopped_at is not None
            barge.append(speaker.stopped_at - (start + s_onset))
        pipeline_hits = [pipeline.early_hits]
        pipeline.close()
        tg.cancel_scope.cancel()

    med = {s: statistics.median(t[s] for t in turns) for s in STAGES}
    total = sum(med.values())
    barge_med = statistics.median(barge)
    print(
        f"\nVoice latency, median of {repeat} turns (model: {model}; piper load {piper_load:.1f} s, "
        f"Whisper load {whisper_load:.1f} s, not counted)"
    )
    print(f"{'stage':<24}{'seconds':>9}")
    for s in STAGES:
        print(f"{s:<24}{med[s]:>9.3f}")
    ok = "PASS" if total <= TURN_GOAL else "MISS"
    print(f"{'end of speech -> audio':<24}{total:>9.3f}   goal <= {TURN_GOAL:.1f} s: {ok}")
    print(
        f"{'barge-in onset -> stop':<24}{barge_med:>9.3f}   goal <= {BARGE_GOAL:.3f} s: "
        f"{'PASS' if barge_med <= BARGE_GOAL else 'MISS'}"
    )
    print(f"speech recognition started early (at a pause) and was used {pipeline_hits[0]} times")
    return {
        "model": model,
        "repeat": repeat,
        "turns": turns,
        "median": med,
        "total": total,
        "barge_in": barge,
        "barge_in_median": barge_med,
        "load_seconds": {"piper": piper_load, "whisper": whisper_load},
    }


def chart(fig_data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = fig_data["median"]
    colors = ["#8250df", "#0969da", "#1a7f37", "#bf8700", "#cf222e"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 4.2), gridspec_kw={"height_ratios": [1.2, 1]})
    left = 0.0
    for stage, color in zip(STAGES, colors, strict=True):
        ax1.barh(0, med[stage], left=left, color=color, label=f"{stage} {med[stage] * 1000:.0f} ms")
        left += med[stage]
    ax1.axvline(TURN_GOAL, color="black", linestyle="--", linewidth=1)
    ax1.text(TURN_GOAL, -0.3, " goal 1.0 s", va="center", backgroundcolor="white")
    ax1.set_yticks([0], ["one turn"])
    ax1.set_xlabel("seconds from the end of the user's speech to the first audio out")
    ax1.set_xlim(0, max(left, TURN_GOAL) * 1.15)
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, fontsize=8, frameon=False)
    ax1.set_title(f"Voice latency on this machine (offline, model: {fig_data['model']}; total {left:.2f} s)")
    b = fig_data["barge_in_median"] * 1000
    ax2.barh(0, b, color="#cf222e")
    ax2.axvline(BARGE_GOAL * 1000, color="black", linestyle="--", linewidth=1)
    ax2.text(BARGE_GOAL * 1000, -0.3, " goal 150 ms", va="center", backgroundcolor="white")
    ax2.set_yticks([0], ["barge-in"])
    ax2.set_xlim(0, max(b, BARGE_GOAL * 1000) * 1.3)
    ax2.set_xlabel(f"ms from speech onset to playback stopped (median {b:.0f} ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", choices=["scripted", "local"], default="scripted")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("bench/voice.py needs espeak-ng to make the speech (apt-get install espeak-ng)")
    data = anyio.run(main, args.repeat, args.model)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "voice.json").write_text(json.dumps(data, indent=2))
    chart(data, RESULTS / "voice.png")
    print(f"wrote {RESULTS / 'voice.json'} and {RESULTS / 'voice.png'}")
