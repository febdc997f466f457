"""Fixed-fps resampling of time-stamped streams, as-of (never from the future).

Pure numpy. Each dataset frame k of an episode sits on the grid time
``t_k = start + k / fps``. A stream is sampled *as of* ``t_k + offset``: the
newest message stamped at or before that time, accepted only if it is at
most ``max_age`` old. Observations use offset 0, so no frame ever sees a
message stamped after its own time; the action uses one period (the target
the robot was commanded to reach next).

Frames where some stream has no fresh message are trimmed at the start and
end of an episode (reported as dropped); such a frame in the middle would
hide a gap, so the episode is refused with :class:`SyncGapError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NS = 1_000_000_000


class SyncGapError(ValueError):
    """A stream has no fresh message for a frame inside the episode."""


@dataclass(frozen=True)
class Stream:
    name: str
    stamps_ns: np.ndarray  # int64, sorted ascending
    max_age_ns: int | None  # None: any age (latched topics)
    offset_ns: int = 0  # sample at grid time + offset (>0 only for targets such as the action)


@dataclass(frozen=True)
class StreamSync:
    indices: np.ndarray  # per kept frame: index into the stream's stamps
    max_age_ms: float  # largest (sample time - message stamp) over kept frames
    mean_age_ms: float
    held: int  # kept frames that repeat the previous frame's message


@dataclass(frozen=True)
class EpisodeSync:
    times_ns: np.ndarray  # grid time of every kept frame
    streams: dict[str, StreamSync]
    dropped_start: int  # grid frames trimmed before the first frame where every stream is fresh
    dropped_end: int

    @property
    def frames(self) -> int:
        return len(self.times_ns)

    def report(self) -> dict:
        return {
            "frames": self.frames,
            "dropped_start": self.dropped_start,
            "dropped_end": self.dropped_end,
            "streams": {
                name: {"max_age_ms": round(s.max_age_ms, 3), "mean_age_ms": round(s.mean_age_ms, 3), "held": s.held}
                for name, s in self.streams.items()
            },
        }


def grid(start_ns: int, stop_ns: int, fps: int) -> np.ndarray:
    """Grid times start + k/fps for every k with t_k <= stop (exact integer nanoseconds)."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if stop_ns < start_ns:
        return np.zeros(0, dtype=np.int64)
    count = (stop_ns - start_ns) * fps // NS + 1
    return start_ns + (np.arange(count, dtype=np.int64) * NS) // fps


def asof(stamps_ns: np.ndarray, times_ns: np.ndarray) -> np.ndarray:
    """Index of the newest stamp <= each time (-1 where there is none). stamps must be sorted."""
    return np.searchsorted(stamps_ns, times_ns, side="right") - 1


def align(start_ns: int, stop_ns: int, fps: int, streams: list[Stream]) -> EpisodeSync:
    """Sample every stream on the episode's grid; trim stale edges; refuse inner gaps."""
    times = grid(start_ns, stop_ns, fps)
    if not len(times):
        raise SyncGapError("the episode is shorter than one frame")
    fresh = np.ones(len(times), dtype=bool)
    picks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for stream in streams:
        at = times + stream.offset_ns
        idx = asof(stream.stamps_ns, at)
        age = np.where(idx >= 0, at - stream.stamps_ns[np.maximum(idx, 0)], np.iinfo(np.int64).max)
        ok = idx >= 0
        if stream.max_age_ns is not None:
            ok &= age <= stream.max_age_ns
        picks[stream.name] = (idx, age, ok)
        fresh &= ok
    good = np.flatnonzero(fresh)
    if not len(good):
        worst = min(picks, key=lambda n: int(picks[n][2].sum()))
        raise SyncGapError(f"no frame where every stream is fresh ({worst!r} is fresh for {picks[worst][2].sum()})")
    first, last = int(good[0]), int(good[-1])
    inner = np.flatnonzero(~fresh[first : last + 1])
    if len(inner):
        k = first + int(inner[0])
        for stream in streams:
            idx, age, ok = picks[stream.name]
            if not ok[k]:
                what = "no message yet" if idx[k] < 0 else f"newest message is {age[k] / 1e6:.1f} ms old"
                limit = "" if stream.max_age_ns is None else f" (max age {stream.max_age_ns / 1e6:.1f} ms)"
                raise SyncGapError(
                    f"stream {stream.name!r} has a gap at frame {k} (t = {(times[k] - start_ns) / 1e9:.3f} s "
                    f"into the episode): {what}{limit}; {int((~fresh[first : last + 1]).sum())} frames affected"
                )
    keep = slice(first, last + 1)
    result = {}
    for stream in streams:
        idx, age, _ = picks[stream.name]
        idx, age = idx[keep], age[keep]
        result[stream.name] = StreamSync(
            indices=idx,
            max_age_ms=float(age.max()) / 1e6,
            mean_age_ms=float(age.mean()) / 1e6,
            held=int(np.count_nonzero(idx[1:] == idx[:-1])),
        )
    return EpisodeSync(times[keep], result, first, len(times) - 1 - last)
