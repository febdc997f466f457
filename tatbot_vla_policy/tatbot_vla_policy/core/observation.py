"""Assemble model observations from cached sensor samples (pure, thread-safe).

Sensor callbacks only hand their newest sample to :class:`ObservationBuffer`;
the inference worker asks it for a :class:`Observation` in LeRobot layout
(``observation.state`` in canonical joint order, ``observation.images.<cam>``
as float CHW at the checkpoint's resolution, ``observation.environment_state``
from the latched stencil and the needle tips of the state: the stencil ahead of
each needle, with the converter's function; ``observation.images.<cam>_depth`` as the (1, H, W)
float32 mm LeRobot's dataset loader gives the policy in training, :class:`DepthFormat`). Inputs
older than ``max_age`` make the snapshot
fail with :class:`StaleObservation`, so a frozen camera stops the robot instead
of driving it on an old picture.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tatbot_bringup.data_contract import DataContract
from tatbot_bringup.depth import resize_depth
from tatbot_bringup.images import resize
from tatbot_bringup.stencil import StencilTracker
from tatbot_vla_policy.core.features import ENV_STATE_KEY, STATE_KEY, InputSpec

STATE_INPUT = "joint_states"  # name of the joint-state input in ages and error messages


class ObservationError(ValueError):
    """An observation cannot be assembled: an input is missing or malformed."""


class StaleObservation(ObservationError):
    """An input is older than the allowed observation age."""

    def __init__(self, stale: dict[str, float], max_age: float):
        self.stale = dict(stale)
        ages = ", ".join(f"{name} {age * 1e3:.0f} ms" for name, age in sorted(stale.items()))
        super().__init__(f"stale input(s): {ages} old, max_observation_age is {max_age * 1e3:.0f} ms")


@dataclass(frozen=True)
class Observation:
    stamp: float  # s, time of the joint state the observation is built around
    age: float  # s, age of its oldest input when it was taken
    features: dict[str, np.ndarray]  # LeRobot feature key -> array, no batch dimension


def image_to_chw(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """HWC uint8 RGB -> (3, height, width) float32 in [0, 1], resized by tatbot_bringup.images.resize,
    the function bag_to_lerobot --image-size resizes with (the data contract's image_resize)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ObservationError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    image = resize(image, (height, width))
    # one numpy op (as LeRobot's loader: uint8 / 255 to the bit): the worker thread calls this before
    # every inference, and each torch op releases the interpreter lock and waits to re-take it from the
    # node's executor thread
    return np.divide(image.transpose(2, 0, 1), np.float32(255.0), out=np.empty((3, height, width), np.float32))


class DepthFormat:
    """How the training dataset stored a depth feature, so the node serves each frame as LeRobot's
    dataset loader gave it to the policy in training: (1, H, W) float32 millimetres (its default
    ``depth_output_unit``). ``quantizer``: the feature's ``DepthEncoderConfig`` (``video.depth_min``
    ... in its info; bag_to_lerobot's default video storage): the frame is quantized to LeRobot's
    12-bit codes and read back with LeRobot's own quantize/dequantize_depth, as the lossless video
    stores and the loader decodes it (0 = no depth comes back as depth_min); None: stored as
    images (``--images``, TIFF), which the loader returns as recorded."""

    def __init__(self, quantizer=None):
        self.quantizer = quantizer
        if quantizer is not None:  # lerobot.datasets takes seconds to import: at configure, not per frame
            from lerobot.datasets.depth_utils import dequantize_depth, quantize_depth

            self._quantize, self._dequantize = quantize_depth, dequantize_depth

    @classmethod
    def of_feature(cls, feature: dict) -> DepthFormat:
        """From the dataset's feature (meta/info.json): a video's quantizer, or images."""
        from lerobot.configs.video import DepthEncoderConfig

        if feature["dtype"] == "image":
            return cls(None)
        return cls(DepthEncoderConfig.from_video_info(feature.get("info")))

    def to_model(self, depth: np.ndarray, height: int, width: int) -> np.ndarray:
        """(H, W) uint16 mm -> (1, height, width) float32 mm (nearest-neighbour resize, as bag_to_lerobot)."""
        depth = resize_depth(depth, (height, width))
        q = self.quantizer
        if q is None:
            return depth.astype(np.float32)[None]
        params = {"depth_min": q.depth_min, "depth_max": q.depth_max, "shift": q.shift, "use_log": q.use_log}
        codes = self._quantize(depth, video_backend=None, input_unit="mm", **params)
        # the loader's path: the decoded uint16 codes as a (1, H, W) tensor, dequantized in torch, mm
        return self._dequantize(torch.from_numpy(codes)[None], output_unit="mm", **params).numpy()


def depth_formats(
    spec: InputSpec, dataset_info: dict | None, contract: DataContract | None = None
) -> tuple[dict[str, DepthFormat], list[str]]:
    """Per depth input of the checkpoint, how its training data stored it: the data contract's
    quantizer, else the training dataset's (meta/info.json, core.runner.dataset_info); neither on
    this machine: LeRobot's default depth video (what bag_to_lerobot writes without --images),
    named in the returned notes."""
    if not spec.depths:
        return {}, []  # no LeRobot import in the node for a checkpoint without depth
    from lerobot.configs.video import DepthEncoderConfig

    if contract is not None and contract.depth:
        q = contract.depth_quantizer
        return {d.key: DepthFormat(DepthEncoderConfig(**q) if q else None) for d in spec.depths}, []

    features = (dataset_info or {}).get("features") or {}
    formats, notes = {}, []
    for d in spec.depths:
        if d.key in features:
            formats[d.key] = DepthFormat.of_feature(features[d.key])
        else:
            formats[d.key] = DepthFormat(DepthEncoderConfig())
            notes.append(
                f"{d.key}: the training dataset is not on this machine; serving depth as LeRobot's default depth "
                "video stores it (bag_to_lerobot --depth without --images)"
            )
    return formats, notes


def _nearest_before(samples: deque, t: float):
    """Value of the newest sample stamped at or before t (the oldest one if none is)."""
    chosen = samples[0][1]
    for stamp, value in samples:
        if stamp > t:
            break
        chosen = value
    return chosen


class ObservationBuffer:
    """Newest joint state (merged by name), newest images per camera, latched stencil.

    n_obs_steps > 1 (e.g. diffusion) keeps a short history and samples it at
    t - k*dt, repeating the oldest sample while the history is still short
    (as LeRobot fills its observation queues at the start of an episode).
    """

    def __init__(
        self,
        joint_names: list[str],
        spec: InputSpec,
        n_obs_steps: int = 1,
        dt: float = 0.1,
        needle_tips: Callable[[np.ndarray], np.ndarray] | None = None,
        depth_formats: dict[str, DepthFormat] | None = None,
    ):
        """needle_tips: joint states (..., J) in canonical order -> needle tips (..., 2, 3)
        (RobotKinematics.needle_tips); needed when the checkpoint takes the stencil.
        depth_formats: depth key -> how its training dataset stored it; every spec.depths key."""
        if n_obs_steps < 1:
            raise ValueError(f"n_obs_steps must be >= 1, got {n_obs_steps}")
        if spec.uses_stencil and needle_tips is None:
            raise ValueError("the checkpoint takes the stencil: ObservationBuffer needs needle_tips (kinematics)")
        missing = sorted(d.key for d in spec.depths if d.key not in (depth_formats or {}))
        if missing:
            raise ValueError(f"the checkpoint takes depth {missing}: ObservationBuffer needs their DepthFormat")
        self.needle_tips = needle_tips
        self.depth_formats = dict(depth_formats or {})
        self.joint_names = list(joint_names)
        self.spec = spec
        self.n_obs_steps = n_obs_steps
        self.dt = dt
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self._window = (n_obs_steps - 1) * dt
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._positions = np.full(len(self.joint_names), np.nan)
            self._joint_stamps = np.full(len(self.joint_names), -np.inf)
            self._got_state = False
            self._states: deque = deque()
            self._images: dict[str, deque] = {c.camera: deque() for c in self.spec.cameras}
            self._depths: dict[str, deque] = {d.camera: deque() for d in self.spec.depths}
            self._stencil: StencilTracker | None = None
            self._progress_log: tuple = (None, deque())  # (tracker, (stamp, progress) per snapshot)

    # -- inputs (called from sensor callbacks: cheap, no copies of images)

    def add_joint_state(self, stamp: float, names, positions) -> None:
        with self._lock:
            self._got_state = True
            for name, value in zip(names, positions, strict=False):
                i = self._index.get(name)
                if i is not None:
                    self._positions[i] = value
                    self._joint_stamps[i] = stamp
            if np.all(np.isfinite(self._joint_stamps)):
                self._push(self._states, float(self._joint_stamps.min()), self._positions.copy())

    def add_image(self, camera: str, stamp: float, image: np.ndarray) -> None:
        with self._lock:
            if camera in self._images:
                self._push(self._images[camera], stamp, image)

    def add_depth(self, camera: str, stamp: float, depth: np.ndarray) -> None:
        """(H, W) uint16 mm of the camera's aligned depth (tatbot_bringup.depth.decode_depth)."""
        with self._lock:
            if camera in self._depths:
                self._push(self._depths[camera], stamp, depth)

    def set_stencil(self, left: np.ndarray, right: np.ndarray) -> None:
        """Latched design; raises ValueError for a path the converter's function cannot use. The
        stencil ahead follows the design from its start (StencilTracker, as the converter does)."""
        if not self.spec.uses_stencil:
            return
        tracker = StencilTracker(left, right, self.spec.stencil_points_per_arm)  # checks them now
        with self._lock:
            self._stencil = tracker

    def restart_stencil(self) -> None:
        """A new run draws the latched design from its start again."""
        with self._lock:
            if self._stencil is not None:
                self._stencil = StencilTracker(*self._stencil.paths, self._stencil.points_per_arm)

    def _push(self, samples: deque, stamp: float, value) -> None:
        if samples and stamp < samples[-1][0]:
            return  # out of order: keep the newest
        samples.append((stamp, value))
        while len(samples) > 1 and samples[1][0] <= stamp - self._window:
            samples.popleft()

    # -- outputs (called from the publisher and the inference worker)

    def _missing(self) -> list[str]:
        missing = []
        if not self._got_state:
            missing.append(f"{STATE_INPUT} (nothing received yet)")
        else:
            absent = [n for n, s in zip(self.joint_names, self._joint_stamps, strict=True) if not np.isfinite(s)]
            if absent:
                missing.append(f"joints {absent} (not in any JointState received)")
        missing += [f"camera {cam} (no image yet)" for cam, s in self._images.items() if not s]
        missing += [f"depth {cam} (no aligned depth image yet)" for cam, s in self._depths.items() if not s]
        if self.spec.uses_stencil and self._stencil is None:
            missing.append("stencil (no Stencil received; the checkpoint needs observation.environment_state)")
        return missing

    def _ages(self, now: float) -> dict[str, float]:
        ages = {STATE_INPUT: now - self._states[-1][0]}
        ages.update({cam: now - s[-1][0] for cam, s in self._images.items()})
        ages.update({f"depth {cam}": now - s[-1][0] for cam, s in self._depths.items()})
        return ages

    def check(self, now: float, max_age: float) -> float:
        """Age of the oldest input; raises ObservationError / StaleObservation."""
        with self._lock:
            return self._check_locked(now, max_age)

    def _check_locked(self, now: float, max_age: float) -> float:
        missing = self._missing()
        if missing:
            raise ObservationError("missing input(s): " + "; ".join(missing))
        ages = self._ages(now)
        stale = {name: age for name, age in ages.items() if age > max_age}
        if stale:
            raise StaleObservation(stale, max_age)
        return max(ages.values())

    def _stencil_features(self, stencil: StencilTracker, stamp: float, times: list[float], states) -> np.ndarray:
        """(n_obs_steps, D) the stencil ahead at each observation step (the worker's thread only). The
        newest tip moves the tracker on; an older step is looked up from the progress the tracker
        had at its time, as the converter computed it when that frame was the newest."""
        if self._progress_log[0] is not stencil:  # a new design or run: a new tracker
            self._progress_log = (stencil, deque())
        log = self._progress_log[1]
        tips = self.needle_tips(states.astype(np.float64))
        rows = []
        for t, tip in zip(times[:-1], tips[:-1], strict=True):
            since = next((p for s, p in reversed(log) if s <= t), [0.0] * len(tip))
            rows.append(stencil(tip, since=since, advance=False))
        rows.append(stencil(tips[-1]))
        log.append((stamp, list(stencil.progress)))
        while len(log) > 1 and log[1][0] <= stamp - self._window:
            log.popleft()
        return np.stack(rows)

    def fresh_state(self, now: float, max_age: float) -> np.ndarray | None:
        """Newest complete joint vector if it is at most ``max_age`` old at ``now``, else None."""
        with self._lock:
            if not self._states or now - self._states[-1][0] > max_age:
                return None
            return self._states[-1][1].copy()

    def latest_state(self) -> np.ndarray | None:
        """Newest complete joint vector in canonical order (None before all joints were seen)."""
        with self._lock:
            return self._states[-1][1].copy() if self._states else None

    def snapshot(self, now: float, max_age: float) -> Observation:
        with self._lock:
            age = self._check_locked(now, max_age)
            stamp = self._states[-1][0]
            times = [stamp - k * self.dt for k in range(self.n_obs_steps - 1, -1, -1)]
            states = np.stack([_nearest_before(self._states, t) for t in times]).astype(np.float32)
            frames = {c.key: [_nearest_before(self._images[c.camera], t) for t in times] for c in self.spec.cameras}
            depths = {d.key: [_nearest_before(self._depths[d.camera], t) for t in times] for d in self.spec.depths}
            stencil = self._stencil
        # resizing happens outside the lock: callbacks keep flowing meanwhile
        features: dict[str, np.ndarray] = {STATE_KEY: states}
        for cam in self.spec.cameras:
            features[cam.key] = np.stack([image_to_chw(f, cam.height, cam.width) for f in frames[cam.key]])
        for d in self.spec.depths:
            serve = self.depth_formats[d.key].to_model
            features[d.key] = np.stack([serve(f, d.height, d.width) for f in depths[d.key]])
        if stencil is not None:
            features[ENV_STATE_KEY] = self._stencil_features(stencil, stamp, times, states)
        if self.n_obs_steps == 1:
            features = {k: v[0] for k, v in features.items()}
        return Observation(stamp=stamp, age=age, features=features)
