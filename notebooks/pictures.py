"""Pictures for the teaching notebooks: what an agent did over time, drawn with matplotlib.

Built only on the public API (``agent.subscribe``): a :class:`Recording` listens to an agent and
its sub-agents; :func:`gantt` draws one recording as lanes — each agent's dialog state, each
background task (tool, timer, sub-agent) — with ticks for user turns, notifications and
interruptions. A static picture renders everywhere (JupyterLab, nbconvert, GitHub); the live
``ipyagent.widgets.timeline`` widget shows the same while the agent runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipyagent import Agent, events
from ipyagent.agents.updates import EntryAdded, EventHandled, StateChanged, TaskChanged, Update
from ipyagent.palette import MARKS as PALETTE_MARKS
from ipyagent.palette import STATES, TASKS

# The palette of the live timeline widget (ipyagent/palette.py); idle is left blank here.
STATE_COLOURS = {state: colour for state, colour in STATES.items() if state != "idle"}
TASK_COLOURS = dict(TASKS)
MARKS = {kind: (marker, colour, label) for kind, (marker, _, colour, label) in PALETTE_MARKS.items()}


@dataclass
class Recording:
    """Everything needed to draw what ``agent`` (and its sub-agents) did, in seconds from the start."""

    agent: Agent
    t0: float = 0.0
    t0_wall: float = 0.0
    # agent path -> list of (start, end or None, state)
    states: dict[str, list[list[Any]]] = field(default_factory=dict)
    # (agent path, task id) -> [label, kind, start, end or None, status]
    tasks: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    # (agent path, time, kind, text)
    marks: list[tuple[str, float, str, str]] = field(default_factory=list)
    # spans measured on the picture: (agent path, start, end, label)
    notes: list[tuple[str, float, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._asked: set[int] = set()
        self._events: list[Any] = []
        clock = self.agent.clock
        self.t0, self.t0_wall = clock.now(), clock.wall()
        self.states[self.agent.path] = [[0.0, None, str(self.agent.state)]]
        self._stop = self.agent.subscribe(self._on_update, children=True)

    def now(self) -> float:
        return self.agent.clock.now() - self.t0

    def measure(self, start: float, end: float, label: str, agent: Agent | None = None) -> None:
        """Draw a span from ``start`` to ``end`` (wall-clock times, such as ledger entries') under
        the agent's lane, labelled ``label``: for example from a question to its answer."""
        path = (agent or self.agent).path
        self.notes.append((path, start - self.t0_wall, end - self.t0_wall, label))

    def _on_update(self, update: Update) -> None:
        path = update.agent.path
        match update:
            case StateChanged(new=new, time=time):
                spans = self.states.setdefault(path, [])
                if spans and spans[-1][1] is None:
                    spans[-1][1] = time - self.t0
                spans.append([time - self.t0, None, str(new)])
            case TaskChanged(task=task):
                end = None if task.finished is None else task.finished - self.t0
                label = f"{task.task_id} {task.name}"
                self.tasks[(path, task.task_id)] = [
                    label,
                    task.kind,
                    task.started - self.t0,
                    end,
                    task.status,
                ]
            case EventHandled(event=events.UserMessage() as event, time=time):
                # A user turn is marked when the user spoke, even if the agent (turn-based)
                # takes it up only later; a turn it holds back is handled again then.
                if id(event) not in self._asked:
                    self._asked.add(id(event))
                    self._events.append(event)  # keeps the id unique while recording
                    self.marks.append((path, time - self.t0, "user", event.text))
            case EntryAdded(entry=entry) if entry.kind in MARKS and entry.kind != "user":
                if update.agent is not self.agent and entry.index < update.agent.ledger.fork_point:
                    return  # a fork's shared prefix was already marked on its parent
                self.marks.append((path, entry.time - self.t0_wall, entry.kind, entry.text))

    def stop(self) -> None:
        self._stop()


def gantt(rec: Recording, ax: Any, title: str = "", until: float | None = None) -> None:
    """Draw ``rec`` on the matplotlib axes ``ax``."""
    end = until if until is not None else rec.now()
    lanes: list[tuple[str, str]] = []  # (label, key)
    for path in rec.states:
        lanes.append((path if path != rec.agent.path else f"{path} (agent)", f"state:{path}"))
        for (owner, task_id), task in rec.tasks.items():
            if owner == path:
                lanes.append((f"  {task[0]}", f"task:{owner}:{task_id}"))
    y_of = {key: len(lanes) - 1 - i for i, (_, key) in enumerate(lanes)}
    for path, spans in rec.states.items():
        y = y_of[f"state:{path}"]
        for start, stop, state in spans:
            if state in STATE_COLOURS:
                width = (stop if stop is not None else end) - start
                ax.broken_barh([(start, max(width, end / 400))], (y - 0.35, 0.7), color=STATE_COLOURS[state])
    for (owner, task_id), (_, kind, start, stop, status) in rec.tasks.items():
        y = y_of[f"task:{owner}:{task_id}"]
        colour = TASK_COLOURS.get(status, TASK_COLOURS["running"])
        width = (stop if stop is not None else end) - start
        ax.broken_barh([(start, max(width, end / 400))], (y - 0.3, 0.6), color=colour)
    for path, at, kind, _ in rec.marks:
        key = f"state:{path}"
        if key in y_of:
            marker, colour, _ = MARKS[kind]
            ax.plot([at], [y_of[key] + 0.45], marker=marker, color=colour, markersize=8, linestyle="")
    for path, start, stop, label in rec.notes:
        y = y_of.get(f"state:{path}", 0) - 0.5
        ax.annotate("", xy=(stop, y), xytext=(start, y), arrowprops={"arrowstyle": "|-|", "color": "#c62828"})
        if stop < 0.7 * end:  # room on the right
            ax.text(stop + end * 0.01, y, label, va="center", fontsize=9, color="#c62828")
        else:
            ax.text((start + stop) / 2, y + 0.12, label, ha="center", fontsize=9, color="#c62828")
    ax.set_yticks(range(len(lanes)), [label for label, _ in reversed(lanes)])
    ax.set_ylim(-0.7, len(lanes) - 0.1)  # room above the top lane for its marks
    ax.set_xlim(-end * 0.02, end * 1.03)  # a mark at 0 s is drawn whole
    ax.set_xlabel("seconds")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, loc="left", fontsize=11)


def legend(fig: Any) -> None:
    """One legend for a figure: state colours, task colours and marks."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=c, label=f"agent {s}") for s, c in STATE_COLOURS.items()]
    handles += [Patch(color=c, label=f"tool {s}") for s, c in TASK_COLOURS.items()]
    handles += [
        Line2D([], [], marker=m, color=c, linestyle="", label=label) for m, c, label in MARKS.values()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)


def draw(*recordings: tuple[Recording, str], until: float | None = None, height: float = 2.0) -> Any:
    """A figure with one panel per ``(recording, title)``, sharing the time axis."""
    import matplotlib.pyplot as plt

    sizes = [len(r.states) + len(r.tasks) for r, _ in recordings]
    fig, axes = plt.subplots(
        len(recordings),
        1,
        figsize=(10, sum(0.5 * s + height * 0.5 for s in sizes) + 0.8),
        sharex=True,
        gridspec_kw={"height_ratios": [s + 1 for s in sizes]},
        squeeze=False,
    )
    end = until if until is not None else max(r.now() for r, _ in recordings)
    for ax, (rec, title) in zip(axes[:, 0], recordings, strict=True):
        gantt(rec, ax, title, until=end)
    legend(fig)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


@dataclass
class VoiceTrace:
    """What a voice conversation sounded like, in seconds from the start: the microphone frames
    fed to the pipeline, the utterances its VAD found, the transcripts, and each spoken sentence
    (when it started playing and how much of it played).

    ``listener()`` goes to the :class:`~ipyagent.audio.pipeline.VoicePipeline`; ``watch(speaker)``
    notes when each sentence reached the speaker.
    """

    rec: Recording
    mic: list[tuple[float, bytes]] = field(default_factory=list)
    utterances: list[list[Any]] = field(default_factory=list)  # [start, end or None]
    transcripts: list[tuple[float, str]] = field(default_factory=list)
    sent: dict[int, tuple[float, Any]] = field(default_factory=dict)  # chunk id -> (time, chunk)

    def now(self) -> float:
        return self.rec.now()

    def listener(self) -> Any:
        from ipyagent.audio.pipeline import VoiceListener

        def phase(p: str) -> None:
            if p == "speaking" and (not self.utterances or self.utterances[-1][1] is not None):
                self.utterances.append([self.now(), None])
            elif p == "transcribing" and self.utterances and self.utterances[-1][1] is None:
                self.utterances[-1][1] = self.now()

        return VoiceListener(phase=phase, transcript=lambda t: self.transcripts.append((self.now(), t)))

    def watch(self, speaker: Any) -> None:
        play = speaker.play

        def noting(chunk: Any) -> None:
            self.sent[chunk.id] = (self.now(), chunk)
            play(chunk)

        speaker.play = noting

    def heard(self, frame: bytes) -> None:
        """Note one microphone frame, fed now."""
        self.mic.append((self.now(), frame))


def draw_voice(trace: VoiceTrace, speaker: Any, title: str = "") -> Any:
    """Three lanes on one time axis: the microphone (waveform, utterances the VAD found, the
    transcripts), the agent's dialog state, and the speaker (each sentence, and how much of it
    played before a barge-in cut it off)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (mic, agent, out) = plt.subplots(
        3, 1, figsize=(11, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 1, 3]}
    )
    end = trace.now()
    # Microphone: each frame ends at its feed time.
    for at, frame in trace.mic:
        samples = np.frombuffer(frame, "<i2").astype(float) / 32768
        t = at - len(samples) / 16000 + np.arange(len(samples)) / 16000
        mic.plot(t[::8], samples[::8], color="#455a64", linewidth=0.5)
    for start, stop in trace.utterances:
        mic.axvspan(start, stop if stop is not None else end, color="#5b8def", alpha=0.18)
    for at, text in trace.transcripts:
        mic.axvline(at, color="#1f4e9c", linewidth=1.2)
        mic.text(at + 0.05, 0.85, f"“{text}”", color="#1f4e9c", fontsize=9, va="top")
    mic.set_ylim(-1, 1)
    mic.set_yticks([])
    mic.set_ylabel("microphone", rotation=0, ha="right", va="center")
    # The agent's state and ledger marks, as in the other notebooks.
    gantt(trace.rec, agent, until=end)
    agent.set_yticks([0], ["agent"])
    agent.set_xlabel("")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    keys = [Patch(color=c, label=s if s != "emitting" else "emitting (speaking)") for s, c in STATE_COLOURS.items()]
    keys += [Line2D([], [], marker=m, color=c, linestyle="", label=k) for k, (m, c, _) in MARKS.items() if k != "notification"]
    agent.legend(handles=keys, loc="upper left", bbox_to_anchor=(1.0, 1.3), fontsize=8, frameon=False)
    # Speaker: played audio dark, the part never played (cut by a barge-in) faint.
    played = dict(speaker.played)
    for n, (chunk_id, (at, chunk)) in enumerate(sorted(trace.sent.items())):
        if chunk_id not in played:
            continue  # dropped by a stop before it began
        start = max(at, *(s + played.get(i, 0) for i, (s, _) in trace.sent.items() if i < chunk_id), 0.0)
        trace.sent[chunk_id] = (start, chunk)
        samples = chunk.samples.astype(float) / 32768
        t = start + np.arange(len(samples)) / chunk.sample_rate
        cut = round(played.get(chunk_id, 0.0) * chunk.sample_rate)
        out.plot(t[:cut:8], samples[:cut:8], color="#e67e22", linewidth=0.5)
        if cut < len(samples):
            out.plot(t[cut::8], samples[cut::8], color="#e67e22", linewidth=0.5, alpha=0.15)
        out.text(start, 0.9 - 0.15 * (n % 2), chunk.text.strip(), fontsize=8, va="top", color="#8d4a0f")
    if speaker.stopped_at is not None:
        stop = speaker.stopped_at - trace.rec.t0
        mic.axvline(stop, color="#c62828", linestyle="--", linewidth=1.2)
        # On the speaker's lane the line stops below the sentences' labels, never across them.
        out.axvline(stop, ymax=0.72, color="#c62828", linestyle="--", linewidth=1.2)
        out.text(stop + 0.05, -0.85, "barge-in: playback stopped", color="#c62828", fontsize=9)
    out.set_ylim(-1, 1)
    out.set_yticks([])
    out.set_ylabel("speaker", rotation=0, ha="right", va="center")
    out.set_xlim(0, end * 1.01)
    out.set_xlabel("seconds (virtual clock)")
    if title:
        mic.set_title(title, loc="left", fontsize=11)
    fig.tight_layout()
    return fig
