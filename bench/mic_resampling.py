"""What the pipeline hears: the browser's 48 kHz microphone taken down to 16 kHz, before (linear
interpolation, no filter) and after (the low-pass + interpolation that ``widgets/voice.js`` runs
now, executed by node from that very file), side by side in one run, with an ideal band-limited
resampling as the reference.

    PYTHONPATH=src python bench/mic_resampling.py

The "microphone" is espeak-ng speech at 48 kHz with the hiss a laptop mic picks up above 8 kHz
(fans, electronics). Printed per setup: how often Whisper tiny.en got the sentence exactly
right and its word error rate, the hiss power that lands in the speech band, and how many
frames of the hiss alone webrtcvad calls voiced (false onsets in a quiet room).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ipyagent.audio.frames import FrameFormat, Int16Array, read_wav, split_frames
from ipyagent.audio.stt import WhisperTranscriber
from ipyagent.audio.vad import webrtc_classifier

VOICE_JS = Path(__file__).resolve().parents[1] / "src/ipyagent/widgets/voice.js"
SENTENCES = [
    "What is the weather in Paris this afternoon?",
    "Set a timer for six minutes.",
    "Summarise the last six cells of this notebook.",
    "Send the slides to Sam and Sophie at six.",
    "Is this sample statistically significant?",
]
MIC_RATE = 48_000


def espeak_48k(text: str) -> Int16Array:
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", "160", text], capture_output=True, check=True).stdout
    samples, rate = read_wav(wav)
    # Band-limited upsampling (FFT), so the 48 kHz signal is a clean recording of the voice.
    n = round(len(samples) * MIC_RATE / rate)
    spectrum = np.fft.rfft(samples.astype(np.float64))
    out = np.fft.irfft(spectrum, n) * n / len(samples)
    return np.clip(out, -32768, 32767).astype(np.int16)


def hiss(seconds: float, seed: int) -> np.ndarray:
    """Noise above 8 kHz (fans, electronics), as a float signal at 48 kHz."""
    rng = np.random.default_rng(seed)
    n = round(seconds * MIC_RATE)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / MIC_RATE)
    spectrum[(freqs < 9000) | (freqs > 20000)] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.std(noise) * 1000


def linear(samples: np.ndarray) -> Int16Array:
    """The browser before: linear interpolation, no filter."""
    n = len(samples) * 16_000 // MIC_RATE
    x = np.arange(n) * MIC_RATE / 16_000
    out = np.interp(x, np.arange(len(samples)), samples.astype(np.float64))
    return np.clip(out, -32768, 32767).astype(np.int16)


def browser_now(samples: np.ndarray) -> Int16Array:
    """The browser now: ``downsampler`` from voice.js, run by node on 128-sample blocks."""
    src = VOICE_JS.read_text()
    code = src[src.index("function lowPassTaps") : src.index("function render(")]
    script = f"""
const TARGET_RATE = 16000;
{code}
const fs = require('fs');
const input = new Float32Array(fs.readFileSync(process.argv[2]).buffer.slice(0));
const down = downsampler({MIC_RATE});
const out = [];
for (let i = 0; i + 128 <= input.length; i += 128) {{
  for (const s of down(input.subarray(i, i + 128))) out.push(s);
}}
fs.writeFileSync(process.argv[3], Buffer.from(new Float32Array(out).buffer));
"""
    with tempfile.TemporaryDirectory() as tmp:
        js, raw, res = Path(tmp, "down.js"), Path(tmp, "in.f32"), Path(tmp, "out.f32")
        js.write_text(script)
        raw.write_bytes((samples.astype(np.float32) / 32768).tobytes())
        subprocess.run(["node", str(js), str(raw), str(res)], check=True)
        out = np.frombuffer(res.read_bytes(), dtype=np.float32) * 32768
    return np.clip(out, -32768, 32767).astype(np.int16)


def ideal(samples: np.ndarray) -> Int16Array:
    """The reference: band-limited resampling (FFT, a brick-wall filter at 8 kHz), what a native
    16 kHz capture or a perfect filter would give."""
    n = len(samples) * 16_000 // MIC_RATE
    spectrum = np.fft.rfft(samples.astype(np.float64))[: n // 2 + 1]
    out = np.fft.irfft(spectrum, n) * n / len(samples)
    return np.clip(out, -32768, 32767).astype(np.int16)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(ref: str, hyp: str) -> float:
    r, h = words(ref), words(hyp)
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d.copy(), i
        for j, hw in enumerate(h, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (rw != hw))
    return float(d[len(h)]) / max(1, len(r))


def power_db(samples: Int16Array) -> float:
    """Mean power in dB relative to one PCM16 step squared."""
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-9))


def main() -> dict[str, object]:
    whisper = WhisperTranscriber()
    classify = webrtc_classifier(2, FrameFormat())
    setups = {
        "before (linear)": linear,
        "after (low-pass, voice.js)": browser_now,
        "reference (ideal, FFT)": ideal,
    }
    results: dict[str, dict[str, float]] = {}
    transcripts: dict[str, list[str]] = {}
    for name, down in setups.items():
        errors, exact, heard = [], 0, []
        for i, text in enumerate(SENTENCES):
            voice = espeak_48k(text).astype(np.float64)
            mic = voice + hiss(len(voice) / MIC_RATE, i)
            got = whisper.transcribe(down(np.clip(mic, -32768, 32767)).astype("<i2").tobytes())
            heard.append(got)
            errors.append(wer(text, got))
            exact += words(text) == words(got)
        quiet = down(np.clip(hiss(5.0, 99), -32768, 32767))
        voiced = sum(classify(f) for f in split_frames(quiet.astype("<i2").tobytes(), FrameFormat()))
        results[name] = {
            "exact": exact,
            "wer": float(np.mean(errors)),
            "hiss_db": power_db(quiet),
            "hiss_frames_voiced": voiced,
        }
        transcripts[name] = heard
    print(f"\nThe microphone at 48 kHz taken to 16 kHz ({len(SENTENCES)} sentences, hiss above 9 kHz)")
    print(f"{'':<30}{'exact':>7}{'WER':>8}{'hiss in band':>15}{'hiss frames voiced':>20}")
    for name, r in results.items():
        print(
            f"{name:<30}{r['exact']:>4}/{len(SENTENCES)}{r['wer']:>8.2f}{r['hiss_db']:>12.1f} dB"
            f"{r['hiss_frames_voiced']:>13}/166"
        )
    for name, heard in transcripts.items():
        print(f"{name}: {heard}")
    return {"results": results, "transcripts": transcripts}


if __name__ == "__main__":
    for program in ("espeak-ng", "node"):
        if shutil.which(program) is None:
            sys.exit(f"bench/mic_resampling.py needs {program}")
    data = main()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "mic_resampling.json").write_text(json.dumps(data, indent=2))
