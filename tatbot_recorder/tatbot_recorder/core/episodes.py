"""Episode segmentation: EpisodeEvents (START / STOP / DISCARD) -> kept episodes.

Pure Python. A bag carries its own segmentation as ``/tatbot/episode``
messages; this module turns the sequence of boundary marks into the episodes
a converter keeps, and says why every other span was dropped.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field


class EventKind(enum.Enum):
    START = "start"
    STOP = "stop"  # ends the episode, kept
    DISCARD = "discard"  # ends the episode, dropped


class MissingTaskError(ValueError):
    """A bag without EpisodeEvents is one episode, and it needs a task string (``--task``)."""


@dataclass(frozen=True)
class EpisodeMark:
    """One EpisodeEvent as read from a bag."""

    stamp_ns: int  # header stamp (or receive time when the stamp is zero)
    kind: EventKind
    index: int
    task: str = ""
    success: bool = False
    metadata_json: str = ""


@dataclass(frozen=True)
class Episode:
    start_ns: int
    stop_ns: int
    index: int  # the recorder's episode index (0 for a bag without events)
    task: str
    success: bool | None  # None: the bag had no events, nothing was said
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.stop_ns - self.start_ns) / 1e9


@dataclass(frozen=True)
class Skipped:
    index: int
    start_ns: int
    reason: str


@dataclass(frozen=True)
class Segmentation:
    episodes: tuple[Episode, ...]
    skipped: tuple[Skipped, ...]


def _metadata(mark: EpisodeMark) -> dict:
    if not mark.metadata_json:
        return {}
    value = json.loads(mark.metadata_json)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def segment_episodes(
    marks: list[EpisodeMark], span: tuple[int, int] | None = None, default_task: str | None = None
) -> Segmentation:
    """Kept episodes and the reasons for every dropped one.

    marks: EpisodeEvents in any order (sorted here by stamp, stable). With no
    marks at all the whole ``span`` (first, last time every stream has data)
    is one episode with ``default_task``. Rules: START opens; STOP closes and
    keeps; DISCARD closes and drops; a START while open drops the open one
    (never stopped); an episode still open when the bag ends is dropped
    (recording interrupted); STOP/DISCARD with nothing open are ignored.
    """
    if not marks:
        if span is None or span[1] <= span[0]:
            return Segmentation((), (Skipped(0, 0, "the bag has no EpisodeEvents and no data span"),))
        if not default_task:
            raise MissingTaskError(
                "the bag has no EpisodeEvents, so it is converted as one episode: pass --task 'what it shows'"
            )
        return Segmentation((Episode(span[0], span[1], 0, default_task, None),), ())

    episodes: list[Episode] = []
    skipped: list[Skipped] = []
    open_mark: EpisodeMark | None = None
    for mark in sorted(marks, key=lambda m: m.stamp_ns):
        if mark.kind is EventKind.START:
            if open_mark is not None:
                skipped.append(
                    Skipped(open_mark.index, open_mark.stamp_ns, f"never stopped: episode {mark.index} started")
                )
            open_mark = mark
            continue
        if open_mark is None:
            continue
        start, open_mark = open_mark, None
        if mark.kind is EventKind.DISCARD:
            skipped.append(Skipped(start.index, start.stamp_ns, "discarded"))
        elif mark.index != start.index:
            skipped.append(
                Skipped(start.index, start.stamp_ns, f"STOP names episode {mark.index}, START {start.index}")
            )
        elif mark.stamp_ns <= start.stamp_ns:
            skipped.append(Skipped(start.index, start.stamp_ns, "empty: STOP is not after START"))
        else:
            try:
                metadata = _metadata(start)
            except ValueError as exc:
                skipped.append(Skipped(start.index, start.stamp_ns, f"metadata_json is invalid: {exc}"))
                continue
            task = start.task or mark.task or default_task
            if not task:
                skipped.append(Skipped(start.index, start.stamp_ns, "no task in the events and no --task"))
                continue
            episodes.append(Episode(start.stamp_ns, mark.stamp_ns, start.index, task, mark.success, metadata))
    if open_mark is not None:
        skipped.append(
            Skipped(open_mark.index, open_mark.stamp_ns, "never stopped: the bag ends inside it (interrupted?)")
        )
    return Segmentation(tuple(episodes), tuple(skipped))
