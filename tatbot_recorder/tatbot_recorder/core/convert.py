"""Bags -> one LeRobotDataset v3: plan, write, validate.

Pure Python (rosbags, numpy, LeRobot; no rclpy). The pipeline:

1. :func:`plan_bag` — one pass over a bag's small topics (joint states,
   setpoints, episode events, stencil, interventions; camera messages only indexed
   by stamp), segmentation into episodes and as-of alignment on the fps grid. Nothing
   is written yet, so every bad-input error comes before the dataset exists.
2. :func:`write_dataset` — in a staging directory beside the output (a copy of
   it when resuming): ``LeRobotDataset.create`` (or ``resume``), then per
   episode a second, windowed pass that decodes only the camera messages the
   frames use, ``add_frame`` in grid order, ``save_episode``; ``finalize`` is
   always called (errors, Ctrl-C). A ledger (``meta/tatbot_episodes.jsonl``)
   keeps per episode its source bag, content hash, task, metadata (stroke
   descriptions, stencil, ...) and sync report; ``--resume`` skips what it lists.
3. :func:`validate` — reloads the staged dataset with ``LeRobotDataset`` and checks
   episode and frame counts and that each new episode's first and last frame
   decode; then the staging directory is renamed into place. A run killed at any
   point leaves the output as it was (:func:`recover_interrupted` removes what it left).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tatbot_bringup.data_contract import DATASET_CONTRACT, DataContract
from tatbot_bringup.dataset_files import check_dataset_files
from tatbot_bringup.depth import DepthDecodeError, decode_depth, resize_depth
from tatbot_bringup.images import ImageDecodeError, decode_compressed, decode_raw, resize
from tatbot_bringup.stencil import StencilTracker
from tatbot_recorder.core.alignment import NS, EpisodeSync, Stream, SyncGapError, align, asof
from tatbot_recorder.core.bag_source import (
    Bag,
    BagError,
    JointOrder,
    MissingCameraError,
    TopicData,
    UnknownTopicError,
    episode_marks,
    stencil_paths,
)
from tatbot_recorder.core.episodes import Episode, MissingTaskError, Skipped, segment_episodes
from tatbot_recorder.core.schema import (
    ACTION,
    COMPRESSED_SUFFIX,
    ENV_STATE,
    INTERVENTION,
    ROBOT_TYPE,
    STATE,
    ConversionSpec,
)

LEDGER = Path("meta") / "tatbot_episodes.jsonl"
INTERVENTION_TYPE = "std_msgs/msg/Bool"
# a stream must deliver at least this fraction of the dataset fps, else frames would repeat messages
MIN_RATE_FRACTION = 0.9


class ConversionError(RuntimeError):
    """The conversion as asked cannot be done; the message says why and what to do."""


class OutputExistsError(ConversionError):
    """--output exists and is not a dataset this run may append to."""


class FpsMismatchError(ConversionError):
    """--fps does not fit the data (a stream slower than the fps) or the dataset being resumed."""


class SchemaMismatchError(ConversionError):
    """The features of this conversion differ from those of the dataset being resumed."""


class ValidationError(ConversionError):
    """The written dataset does not reload with the expected episodes and frames."""


@dataclass
class CameraPlan:
    name: str  # <camera>, or <camera>_depth for its depth
    key: str  # observation.images.<name>
    topic: str
    compressed: bool
    frames: list[tuple[int, int]]  # per dataset frame: (receive time, stamp) of the message it shows
    depth: bool = False  # 16UC1 aligned depth (mm) -> (H, W, 1) uint16, LeRobot's depth feature


@dataclass
class EpisodePlan:
    bag: Path
    bag_hash: str
    episode: Episode
    sync: EpisodeSync
    state: np.ndarray  # (F, J) float32
    action: np.ndarray  # (F, J) float32
    env_state: np.ndarray | None  # (F, 6P) float32
    intervention: np.ndarray  # (F, 1) bool: a human was in control when the frame's action was taken
    cameras: list[CameraPlan]
    stamp_fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.sync.frames

    @property
    def ledger_key(self) -> str:
        return f"{self.bag_hash}:{self.episode.start_ns}"


@dataclass
class BagPlan:
    path: Path
    bag_hash: str
    episodes: list[EpisodePlan]
    skipped: list[Skipped]


def _camera_topic(cam, topics: dict[str, str], path: Path) -> tuple[str, bool]:
    if cam.topic in topics:
        return cam.topic, False
    if cam.topic + COMPRESSED_SUFFIX in topics:
        return cam.topic + COMPRESSED_SUFFIX, True
    images = sorted(t for t, ty in topics.items() if ty.startswith("sensor_msgs/msg/") and "Image" in ty)
    raise MissingCameraError(
        f"{path}: camera {cam.name!r} has no messages on {cam.topic} nor {cam.topic + COMPRESSED_SUFFIX}; "
        f"image topics in the bag: {images}; map it with --camera {cam.name}=TOPIC or leave it out with --camera"
    )


def _depth_topic(cam, topics: dict[str, str], path: Path) -> str:
    if cam.depth_topic in topics:
        return cam.depth_topic
    images = sorted(t for t, ty in topics.items() if ty.startswith("sensor_msgs/msg/") and "Image" in ty)
    raise MissingCameraError(
        f"{path}: --depth needs the aligned depth topic {cam.depth_topic} of camera {cam.name!r}; it has no messages "
        f"in the bag; image topics in the bag: {images}; record it (the recorder does by default; realsense2_camera "
        "needs align_depth.enable) or convert without --depth"
    )


def _check_rate(name: str, data: TopicData, fps: int, path: Path) -> None:
    period = data.median_period_s
    if period and 1.0 / period < MIN_RATE_FRACTION * fps:
        raise FpsMismatchError(
            f"{path}: {name} arrives at {1.0 / period:.1f} Hz, slower than --fps {fps}: frames would repeat "
            f"its messages; use --fps {int(1.0 / period)} or lower"
        )


def plan_bag(path: str | Path, spec: ConversionSpec, typestore, needle_tips: Callable | None = None) -> BagPlan:
    """Scan one bag, segment it into episodes and align each on the fps grid (reads, never writes).

    needle_tips: joint states (F, J) -> needle tips (F, 2, 3) (RobotKinematics.needle_tips); needed
    for spec.environment_state, the stencil ahead of each needle (tatbot_bringup.stencil).
    """
    path = Path(path)
    if spec.environment_state and needle_tips is None:
        raise ValueError("plan_bag: spec.environment_state needs needle_tips (the robot's forward kinematics)")
    with Bag(path, typestore) as bag:
        topics = bag.topics
        for what, topic in (("joint states", spec.state_topic), ("action setpoints", spec.action_topic)):
            if topic not in topics:
                raise UnknownTopicError(
                    f"{path}: {what} topic {topic} is not in the bag; topics with messages: {sorted(topics)}"
                )
        if spec.environment_state and spec.stencil_topic not in topics:
            raise UnknownTopicError(
                f"{path}: --environment-state needs the stencil topic {spec.stencil_topic}, which is not in the bag; "
                f"topics with messages: {sorted(topics)}"
            )
        if topics.get(spec.intervention_topic, INTERVENTION_TYPE) != INTERVENTION_TYPE:
            raise BagError(
                f"{path}: intervention topic {spec.intervention_topic} carries {topics[spec.intervention_topic]}, "
                f"not {INTERVENTION_TYPE}; name the teleop's topic with --intervention-topic"
            )
        # (name, key, topic, compressed, depth) of every image stream: colour, then depth with --depth
        cameras = [(cam.name, cam.key, *_camera_topic(cam, topics, path), False) for cam in spec.cameras]
        if spec.depth:
            cameras += [
                (cam.depth_name, cam.depth_key, _depth_topic(cam, topics, path), False, True) for cam in spec.cameras
            ]
        decoders: dict[str, Callable | None] = {
            spec.state_topic: JointOrder(list(spec.joint_names), spec.state_topic),
            spec.action_topic: JointOrder(list(spec.joint_names), spec.action_topic),
        }
        for _, _, topic, _, _ in cameras:
            decoders[topic] = None
        if spec.episode_topic in topics:
            decoders[spec.episode_topic] = episode_marks(typestore, topics[spec.episode_topic])
        if spec.environment_state:
            decoders[spec.stencil_topic] = stencil_paths
        if spec.intervention_topic in topics:
            decoders[spec.intervention_topic] = lambda msg: bool(msg.data)
        data = bag.scan(decoders)
        bag_hash = bag.content_hash()

    streams: dict[str, tuple[TopicData, float | None, int]] = {
        STATE: (data[spec.state_topic], spec.state_max_age_s, 0),
        ACTION: (data[spec.action_topic], spec.action_max_age_s, spec.action_offset_ns),
    }
    for _, key, topic, _, _ in cameras:  # depth is aligned as of its header stamp, like colour
        streams[key] = (data[topic], spec.image_max_age_s, 0)
    for name, (topic_data, _, _) in streams.items():
        _check_rate(name, topic_data, spec.fps, path)
    if spec.environment_state:
        streams[ENV_STATE] = (data[spec.stencil_topic], None, 0)  # latched: the design stays current

    marks = []
    if spec.episode_topic in data:
        events = data[spec.episode_topic]
        marks = [replace(m, stamp_ns=int(s)) for s, m in zip(events.stamps_ns, events.values, strict=True)]
    firsts = [d.stamps_ns[0] for d, _, _ in streams.values()]
    # a latched stream (the stencil, published once per design) starts the data span but never ends it
    lasts = [d.stamps_ns[-1] for name, (d, _, _) in streams.items() if name != ENV_STATE]
    try:
        segmentation = segment_episodes(marks, (int(max(firsts)), int(min(lasts))), spec.default_task)
    except MissingTaskError as exc:
        raise MissingTaskError(f"{path}: {exc}") from None

    fallbacks = {name: d.zero_stamps for name, (d, _, _) in streams.items() if d.zero_stamps}
    # std_msgs/Bool has no header: Bag.scan stamps the flags with their bag receive time. A bag
    # without the topic (no teleop ran) was never intervened.
    flags = data.get(spec.intervention_topic)
    episodes, skipped = [], list(segmentation.skipped)
    for episode in segmentation.episodes:
        align_streams = [
            Stream(name, d.stamps_ns, None if age is None else round(age * NS), offset)
            for name, (d, age, offset) in streams.items()
        ]
        try:
            sync = align(episode.start_ns, episode.stop_ns, spec.fps, align_streams)
        except SyncGapError as exc:
            skipped.append(Skipped(episode.index, episode.start_ns, f"sync: {exc}"))
            continue
        pick = {name: s.indices for name, s in sync.streams.items()}
        state_values, action_values = data[spec.state_topic].values, data[spec.action_topic].values
        state = np.stack([state_values[i] for i in pick[STATE]]).astype(np.float32)
        # as of the time the frame's action is taken from (frame time + action offset): a frame is
        # flagged when its action label is the human's command; False before the first message
        intervention = np.zeros((sync.frames, 1), dtype=bool)
        if flags is not None:
            at = sync.times_ns + spec.action_offset_ns
            intervention[:, 0] = [i >= 0 and flags.values[i] for i in asof(flags.stamps_ns, at)]
        env = None
        if spec.environment_state:
            stencils = data[spec.stencil_topic].values
            tips = needle_tips(state.astype(np.float64))
            points = spec.stencil_points
            trackers: dict[int, StencilTracker] = {}  # per design of this episode, followed from its start
            rows = []
            for i, tip in zip(pick[ENV_STATE], tips, strict=True):
                if i not in trackers:
                    trackers[i] = StencilTracker(*stencils[i], points)
                rows.append(trackers[i](tip))
            env = np.stack(rows)
        episodes.append(
            EpisodePlan(
                bag=path,
                bag_hash=bag_hash,
                episode=episode,
                sync=sync,
                state=state,
                action=np.stack([action_values[i] for i in pick[ACTION]]).astype(np.float32),
                env_state=env,
                intervention=intervention,
                cameras=[
                    CameraPlan(
                        name,
                        key,
                        topic,
                        compressed,
                        [(int(data[topic].log_ns[i]), int(data[topic].stamps_ns[i])) for i in pick[key]],
                        depth,
                    )
                    for name, key, topic, compressed, depth in cameras
                ],
                stamp_fallbacks=fallbacks,
            )
        )
    return BagPlan(path, bag_hash, episodes, skipped)


def intervention_segments(plan: EpisodePlan, fps: int) -> list[EpisodePlan]:
    """The runs of ``plan``'s frames with a human in control, each an episode of its own: HG-DAgger's
    training data, where every action label is the human's command and none the policy's. A segment
    keeps its episode's task and metadata, plus ``intervention_frames``: [first, end) in the episode;
    its sync report is the whole episode's."""
    flags = np.concatenate(([0], plan.intervention[:, 0].astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(flags))  # starts and ends of the runs, alternating
    times = plan.sync.times_ns
    segments = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        sync = replace(
            plan.sync,
            times_ns=times[a:b],
            streams={name: replace(s, indices=s.indices[a:b]) for name, s in plan.sync.streams.items()},
        )
        episode = replace(
            plan.episode,
            start_ns=int(times[a]),
            stop_ns=int(times[b - 1]) + NS // fps,
            metadata={**plan.episode.metadata, "intervention_frames": [a, b]},
        )
        segments.append(
            replace(
                plan,
                episode=episode,
                sync=sync,
                state=plan.state[a:b],
                action=plan.action[a:b],
                env_state=None if plan.env_state is None else plan.env_state[a:b],
                intervention=plan.intervention[a:b],
                cameras=[replace(cam, frames=cam.frames[a:b]) for cam in plan.cameras],
            )
        )
    return segments


def decode_image(msg, cam: CameraPlan, size: tuple[int, int] | None) -> np.ndarray:
    """A camera message as the dataset stores it: (H, W, 3) uint8 RGB, or (H, W, 1) uint16 mm for
    depth (resized by nearest neighbour: tatbot_bringup.depth, as vla_policy serves it)."""
    if cam.depth:
        depth = decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
        return resize_depth(depth, size)[..., None]
    if cam.compressed:
        image = decode_compressed(msg.format, msg.data)
    else:
        image = decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data)
    return resize(image, size)


def probe_image_shapes(plan: EpisodePlan, typestore, size: tuple[int, int] | None) -> dict[str, tuple[int, int]]:
    """Stored (height, width) per camera: --image-size, or the first frame of the first episode."""
    if size is not None:
        return {cam.name: tuple(size) for cam in plan.cameras}
    shapes = {}
    with Bag(plan.bag, typestore) as bag:
        wanted = {cam.topic: {cam.frames[0]} for cam in plan.cameras}
        by_topic = {cam.topic: cam for cam in plan.cameras}
        for topic, _, msg in bag.messages_at(wanted):
            shapes[by_topic[topic].name] = decode_image(msg, by_topic[topic], None).shape[:2]
    return shapes


# --- output, ledger ------------------------------------------------------------------------------


def existing_dataset(output: Path, resume: bool) -> bool:
    """True when output is a dataset to append to; raise OutputExistsError when it must not be touched."""
    if not output.exists():
        return False
    if (output / "meta" / "info.json").is_file():
        if not resume:
            raise OutputExistsError(
                f"{output} is already a LeRobot dataset: pass --resume to add the new episodes, "
                "or choose another --output"
            )
        check_dataset_files(output)  # one cut by a crash elsewhere is named here, never fetched from the Hub
        return True
    if output.is_dir() and not any(output.iterdir()):
        return False
    raise OutputExistsError(
        f"{output} exists and is not a LeRobot dataset (no meta/info.json); it is never overwritten: "
        "choose another --output"
    )


def staging_dir(root: Path) -> Path:
    """Where a run writes before publishing ``root`` (beside it: the same file system, so a rename)."""
    return root.with_name(f".{root.name}.partial")


def _backup_dir(root: Path) -> Path:
    return root.with_name(f".{root.name}.old")


def recover_interrupted(root: Path) -> list[str]:
    """Undo what a killed run left beside ``root``: its staging directory (removed; the episodes it
    held were never published, so --resume converts them again) and, if it died between the two
    renames of publishing, the previous dataset (put back). Returns what was done."""
    done = []
    old = _backup_dir(root)
    if old.exists():
        if root.exists():
            shutil.rmtree(old)  # the new dataset was published; only the backup's removal was left
        else:
            os.replace(old, root)
            done.append(f"restored {root} from {old} (a run was killed while publishing)")
    stage = staging_dir(root)
    if stage.exists():
        shutil.rmtree(stage)
        done.append(f"removed {stage}, left by a run that was killed (its episodes were never published)")
    return done


def _publish(stage: Path, root: Path) -> None:
    """Put the finalized, validated ``stage`` in place of ``root`` (renames on one file system)."""
    if (root / "meta" / "info.json").is_file():
        old = _backup_dir(root)
        os.replace(root, old)
        os.replace(stage, root)
        shutil.rmtree(old)
    else:
        if root.exists():
            root.rmdir()  # an empty directory (existing_dataset allows no other)
        os.replace(stage, root)


def check_resume_fps(root: Path, fps: int) -> None:
    """Before anything is planned: a dataset being resumed must have this run's fps."""
    info = root / "meta" / "info.json"
    if info.is_file() and (have := json.loads(info.read_text())["fps"]) != fps:
        raise FpsMismatchError(f"{root} is a {have} fps dataset; this run asks for --fps {fps}")


def read_ledger(root: Path) -> list[dict]:
    path = root / LEDGER
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_ledger(root: Path, entry: dict) -> None:
    with (root / LEDGER).open("a") as f:
        f.write(json.dumps(entry) + "\n")


def ledger_entry(index: int, plan: EpisodePlan) -> dict:
    ep = plan.episode
    return {
        "episode_index": index,
        "key": plan.ledger_key,
        "bag": str(plan.bag),
        "bag_sha256": plan.bag_hash,
        "bag_episode_index": ep.index,
        "start_ns": ep.start_ns,
        "stop_ns": ep.stop_ns,
        "task": ep.task,
        "success": ep.success,
        "metadata": ep.metadata,
        "sync": plan.sync.report(),
        "stamp_fallbacks": plan.stamp_fallbacks,
    }


def _same_schema(expected: dict, actual: dict) -> list[str]:
    from lerobot.utils.constants import DEFAULT_FEATURES

    problems = []
    for key, ft in expected.items():
        have = actual.get(key)
        if have is None and key == INTERVENTION:
            problems.append(
                f"{key} (the per-frame human-intervention flag) is missing from the dataset: it was converted "
                f"before bag_to_lerobot wrote that feature; convert its bags (listed in {LEDGER}) again into a "
                "new --output, then add new bags to that one"
            )
        elif have is None:
            depth = " (a depth feature: convert without --depth)" if (ft.get("info") or {}).get("is_depth_map") else ""
            problems.append(f"{key} is missing from the dataset{depth}")
        elif have["dtype"] != ft["dtype"] or tuple(have["shape"]) != tuple(ft["shape"]):
            problems.append(
                f"{key}: dataset has {have['dtype']} {tuple(have['shape'])}, this run {ft['dtype']} {ft['shape']}"
            )
    extra = [k for k in actual if k not in expected and k not in DEFAULT_FEATURES]
    problems += [
        f"{k} is in the dataset but not produced by this run"
        + (" (a depth feature: pass --depth)" if (actual[k].get("info") or {}).get("is_depth_map") else "")
        for k in extra
    ]
    return problems


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteOptions:
    repo_id: str
    use_videos: bool = True
    vcodec: str = "libsvtav1"
    crf: int | None = None
    preset: str | None = None
    streaming_encoding: bool = True
    encoder_threads: int | None = None
    image_writer_threads: int = 4
    resume: bool = False


@dataclass
class WriteResult:
    root: Path
    written: list[tuple[int, EpisodePlan]]  # (dataset episode index, plan)
    total_episodes: int
    total_frames: int


def check_encoder(options: WriteOptions) -> None:
    """Raise a ValueError naming the flag when LeRobot's encoder config refuses the video options."""
    try:
        _encoder(options)
    except ValueError as exc:
        raise ValueError(f"--vcodec/--crf/--preset: {exc}") from None


def _encoder(options: WriteOptions):
    from lerobot.configs import RGBEncoderConfig

    kwargs = {"vcodec": options.vcodec}
    if options.crf is not None:
        kwargs["crf"] = options.crf
    if options.preset is not None:
        kwargs["preset"] = int(options.preset) if str(options.preset).isdigit() else options.preset
    return RGBEncoderConfig(**kwargs)


def _open_dataset(root: Path, spec: ConversionSpec, features: dict, options: WriteOptions, queue: int, append: bool):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    encoder = _encoder(options) if options.use_videos else None
    common = {
        "rgb_encoder": encoder,
        "streaming_encoding": options.streaming_encoding and options.use_videos,
        "encoder_queue_maxsize": queue,
        "encoder_threads": options.encoder_threads,
        "image_writer_threads": options.image_writer_threads,
    }
    if not append:
        return LeRobotDataset.create(
            options.repo_id,
            spec.fps,
            features,
            root=root,
            robot_type=ROBOT_TYPE,
            use_videos=options.use_videos,
            **common,
        )
    ds = LeRobotDataset.resume(options.repo_id, root=root, **common)
    if ds.meta.fps != spec.fps:
        ds.finalize()
        raise FpsMismatchError(f"{root} is a {ds.meta.fps} fps dataset; this run asks for --fps {spec.fps}")
    problems = _same_schema(features, ds.meta.features)
    if problems:
        ds.finalize()
        raise SchemaMismatchError(f"{root} does not have this run's features: " + "; ".join(problems))
    return ds


def _write_contract(ds, contract: DataContract, append: bool, root: Path) -> None:
    """The dataset's train <-> serve contract (tatbot_bringup.data_contract): written with a new
    dataset; a resumed one must have been converted the same way (one converted before contracts
    existed keeps none: the policy node then needs its parameters)."""
    path = Path(ds.root) / DATASET_CONTRACT
    if not append:
        contract.write(path)
        return
    if not path.is_file():
        return
    existing = DataContract.read(path)
    if existing != contract:
        ds.finalize()
        differ = [k for k, v in contract.__dict__.items() if getattr(existing, k) != v]
        raise SchemaMismatchError(
            f"{root} was converted with other settings ("
            + "; ".join(f"{k}: {getattr(existing, k)!r} there, {getattr(contract, k)!r} now" for k in differ)
            + "): convert with the same options, or into a new --output"
        )


def _write_episode(ds, bag: Bag, plan: EpisodePlan, size: tuple[int, int] | None, shapes: dict, progress) -> None:
    task = plan.episode.task
    frames = plan.frames
    parts: list[dict] = [{} for _ in range(frames)]
    remaining = np.full(frames, len(plan.cameras))
    users: dict[str, dict[tuple[int, int], list[int]]] = {}
    cams = {cam.topic: cam for cam in plan.cameras}
    for cam in plan.cameras:
        users[cam.topic] = defaultdict(list)
        for k, key in enumerate(cam.frames):
            users[cam.topic][key].append(k)
    next_frame = 0

    def emit() -> None:
        nonlocal next_frame
        while next_frame < frames and remaining[next_frame] == 0:
            k = next_frame
            frame = {
                STATE: plan.state[k],
                ACTION: plan.action[k],
                INTERVENTION: plan.intervention[k],
                "task": task,
                **parts[k],
            }
            if plan.env_state is not None:
                frame[ENV_STATE] = plan.env_state[k]
            ds.add_frame(frame)
            parts[k] = {}
            next_frame += 1
            progress(1)

    emit()
    wanted = {topic: set(keys) for topic, keys in users.items()}
    for topic, key, msg in bag.messages_at(wanted):
        cam = cams[topic]
        frames_using = users[topic].pop(key, ())
        if not frames_using:
            continue  # a duplicate message (same receive time and stamp)
        try:
            image = decode_image(msg, cam, size)
        except (ImageDecodeError, DepthDecodeError) as exc:
            raise BagError(f"{plan.bag}: {topic}: {exc}") from exc
        if image.shape[:2] != tuple(shapes[cam.name]):
            raise SchemaMismatchError(
                f"{plan.bag}: {topic} has {image.shape[1]}x{image.shape[0]} frames, the dataset "
                f"{shapes[cam.name][1]}x{shapes[cam.name][0]}: pass --image-size HxW to store one size"
            )
        for k in frames_using:
            parts[k][cam.key] = image
            remaining[k] -= 1
        emit()
    if next_frame < frames:
        missing = {t: len(u) for t, u in users.items() if u}
        raise BagError(f"{plan.bag}: camera messages indexed earlier were not found again: {missing}")
    ds.save_episode()


def write_dataset(
    plans: list[EpisodePlan],
    spec: ConversionSpec,
    root: Path,
    options: WriteOptions,
    typestore,
    on_episode: Callable[[int, EpisodePlan], None] = lambda i, p: None,
    progress: Callable[[int], None] = lambda n: None,
) -> WriteResult:
    """Write the planned episodes into a staging copy of ``root`` (core.convert.staging_dir),
    finalize and validate it, then rename it into place: a run killed at any point leaves ``root``
    as it was (recover_interrupted cleans up after it). A run that ends with an error or Ctrl-C
    publishes the episodes saved until then."""
    append = existing_dataset(root, options.resume)
    shapes = probe_image_shapes(plans[0], typestore, spec.image_size)
    features = spec.features(shapes, options.use_videos)
    queue = max(p.frames for p in plans) + 1  # streaming encoder never drops: it can buffer a whole episode
    stage = staging_dir(root)
    if append:
        shutil.copytree(root, stage)  # copies: LeRobot rewrites its latest data and meta files in place
    try:
        ds = _open_dataset(stage, spec, features, options, queue, append)
        _write_contract(ds, spec.contract(options.use_videos), append, root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)  # refused (fps, schema): nothing was written
        raise
    written: list[tuple[int, EpisodePlan]] = []
    try:
        by_bag: dict[Path, list[EpisodePlan]] = defaultdict(list)
        for plan in plans:
            by_bag[plan.bag].append(plan)
        for path, bag_plans in by_bag.items():
            with Bag(path, typestore) as bag:
                for plan in bag_plans:
                    index = ds.meta.total_episodes
                    try:
                        _write_episode(ds, bag, plan, spec.image_size, shapes, progress)
                    except BaseException:
                        if ds.has_pending_frames():
                            ds.clear_episode_buffer()
                        raise
                    _append_ledger(ds.root, ledger_entry(index, plan))
                    written.append((index, plan))
                    on_episode(index, plan)
    finally:
        ds.finalize()
        result = WriteResult(root, written, ds.meta.total_episodes, ds.meta.total_frames)
        try:
            if written:
                validate(replace(result, root=stage), options.repo_id)
                _publish(stage, root)
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # nothing new, or it failed validation
    return result


def validate(result: WriteResult, repo_id: str) -> None:
    """Reload with LeRobotDataset; check counts, per-episode lengths and that edge frames decode."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id, root=result.root)
    if ds.meta.total_episodes != result.total_episodes or ds.num_frames != result.total_frames:
        raise ValidationError(
            f"{result.root}: reloaded {ds.meta.total_episodes} episodes / {ds.num_frames} frames, "
            f"expected {result.total_episodes} / {result.total_frames}"
        )
    episodes = ds.meta.episodes
    for index, plan in result.written:
        row = episodes[index]
        if row["length"] != plan.frames:
            raise ValidationError(f"{result.root}: episode {index} has {row['length']} frames, wrote {plan.frames}")
        for frame in (row["dataset_from_index"], row["dataset_to_index"] - 1):
            item = ds[frame]
            if int(item["episode_index"]) != index:
                raise ValidationError(f"{result.root}: frame {frame} belongs to episode {item['episode_index']}")
