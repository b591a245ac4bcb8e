"""A speaker that only records: the chunks sent to it and how often it was told to stop (tests
report playback by hand)."""

from __future__ import annotations

from ipyagent.audio.speech import AudioChunk


class ListSpeaker:
    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.played: list[AudioChunk] = []
        self.stops = 0

    def play(self, chunk: AudioChunk) -> None:
        self.played.append(chunk)

    def stop(self) -> None:
        self.stops += 1
