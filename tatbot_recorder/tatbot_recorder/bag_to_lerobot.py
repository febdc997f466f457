"""bag_to_lerobot: rosbag2 bags -> one LeRobotDataset v3 (no ROS needed, no network).

ros2 run tatbot_recorder bag_to_lerobot BAG [BAG ...] --output DIR [--fps 10] [--config robot.yaml]
./tatbot run tatbot_recorder bag_to_lerobot --help
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tatbot_bringup import topics
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import RobotConfigError, load_robot_config
from tatbot_bringup.stencil import DEFAULT_POINTS_PER_ARM
from tatbot_recorder.core.bag_source import BagError
from tatbot_recorder.core.convert import (
    ConversionError,
    WriteOptions,
    check_encoder,
    check_resume_fps,
    existing_dataset,
    intervention_segments,
    plan_bag,
    read_ledger,
    recover_interrupted,
    write_dataset,
)
from tatbot_recorder.core.episodes import MissingTaskError
from tatbot_recorder.core.schema import CameraSpec, ConversionSpec

DESCRIPTION = """\
Convert rosbag2 recordings (MCAP or sqlite3, split or not, ours or plain `ros2 bag record`)
into one LeRobotDataset v3 for lerobot-train. Reads bags with rosbags: no ROS, no network.

Episodes: from tatbot_interfaces/EpisodeEvent messages on the episode topic (START ... STOP
kept, START ... DISCARD dropped, an episode never stopped - e.g. the recorder was killed - is
dropped). A bag without events is one episode from the first to the last time every stream
has data; its task comes from --task. Episode metadata (stroke descriptions, stencil, ...)
is kept per episode in DIR/meta/tatbot_episodes.jsonl with the source bag, its sha256 and the
sync report.

Frames: every episode is resampled on a fixed grid t_k = start + k/fps. Each observation
stream is sampled as of t_k: the newest message whose header stamp is <= t_k (never a message
from the future), accepted if it is at most its max age old. Messages with a zero header stamp
use the bag receive time instead (reported). The action is the commanded setpoint as of
t_k + action-offset periods. Grid frames at the start or end of an episode where some stream
is not fresh yet are dropped; a stale stream inside an episode skips the episode (reported).

Dataset schema (names from robot.yaml):
  observation.state              float32 (14)  /joint_states, reordered by joint name
  action                         float32 (14)  /arm_driver/commanded at t + offset
  observation.images.<camera>    video (H,W,3)  raw (rgb8, bgr8, mono8, rgba8, bgra8) or
                                                compressed (<topic>/compressed, jpeg/png)
  observation.images.<camera>_depth
                                 video (H,W,1)  --depth: the camera's aligned depth, /<camera>/
                                                aligned_depth_to_color/image_raw (16UC1, mm), in
                                                LeRobot's depth format (info.is_depth_map; 12-bit
                                                log-quantized, lossless HEVC; read back as mm)
  observation.environment_state  float32 (6P)   per arm, the P points of the latched /tatbot/stencil
                                                ahead of the needle tip (forward kinematics of the
                                                state), relative to the tip (--environment-state;
                                                tatbot_bringup.stencil)
  intervention                   bool (1)       a human was in control: the newest std_msgs/Bool on
                                                the intervention topic (teleop's, latched) received
                                                at or before t_k (Bool has no header: bag receive
                                                time); false without one. Always written, as by
                                                LeRobot's DAgger rollouts, so datasets with and
                                                without corrections merge (lerobot-edit-dataset)

Sync report (printed per episode, stored in the ledger): frames kept, frames dropped at
start/end, and per stream the max and mean age of the sampled message (ms) and how many frames
held (repeated) the previous frame's message.

Exit status: 0 done (the dataset was reloaded and checked), 1 bad input or failed check (the
message names it; an existing non-dataset --output is never touched), 130 interrupted (the
dataset is finalized with the episodes saved so far).
"""


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--image-size must look like HEIGHTxWIDTH, e.g. 240x320; got {text!r}"
        ) from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"--image-size must be positive, got {text!r}")
    return h, w


def _positive(kind, allow_zero: bool = False):
    def parse(text: str):
        value = kind(text)
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be {'>=' if allow_zero else '>'} 0, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bag_to_lerobot", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bags", nargs="+", type=Path, help="rosbag2 directories (or single .mcap/.db3 files)")
    p.add_argument("--output", "-o", type=Path, required=True, help="dataset root directory (created)")
    p.add_argument(
        "--repo-id",
        help="dataset repo_id stored in the metadata (default tatbot/<output name>); local only, nothing is uploaded",
    )
    p.add_argument("--fps", type=_positive(int), default=None, help="dataset frame rate (default: rates.policy)")
    p.add_argument("--config", help="robot.yaml (joints, LeRobot names, cameras); default tatbot_bringup's")
    p.add_argument("--task", help="task string of bags without EpisodeEvents")
    p.add_argument(
        "--camera",
        action="append",
        metavar="NAME[=TOPIC]",
        help="camera to store (repeat); TOPIC overrides the config's topic. Default: every config camera",
    )
    p.add_argument("--no-cameras", action="store_true", help="store no images (state/action only)")
    p.add_argument("--image-size", type=_size, metavar="HxW", help="resize every camera to HEIGHTxWIDTH")
    p.add_argument(
        "--state-topic", default=topics.JOINT_STATES, help="sensor_msgs/JointState observation (default %(default)s)"
    )
    p.add_argument(
        "--action-topic",
        default=topics.COMMANDED,
        help="sensor_msgs/JointState setpoints the action comes from (default %(default)s)",
    )
    p.add_argument("--episode-topic", default=topics.EPISODE, help="EpisodeEvent topic (default %(default)s)")
    p.add_argument("--stencil-topic", default=topics.STENCIL, help="Stencil topic (default %(default)s)")
    p.add_argument(
        "--intervention-topic",
        default=ConversionSpec.intervention_topic,
        help="std_msgs/Bool topic of the intervention flag (default %(default)s)",
    )
    p.add_argument(
        "--action-offset",
        type=_positive(float, allow_zero=True),
        default=1.0,
        metavar="PERIODS",
        help="action = setpoint at t + PERIODS/fps (default %(default)s; 0 = setpoint at t)",
    )
    p.add_argument(
        "--state-max-age",
        type=_positive(float),
        default=0.05,
        metavar="S",
        help="oldest acceptable joint state, s (default %(default)s)",
    )
    p.add_argument(
        "--action-max-age",
        type=_positive(float),
        default=0.05,
        metavar="S",
        help="oldest acceptable setpoint, s (default %(default)s)",
    )
    p.add_argument(
        "--image-max-age",
        type=_positive(float),
        default=0.1,
        metavar="S",
        help="oldest acceptable camera frame, s (default %(default)s)",
    )
    p.add_argument(
        "--environment-state",
        action="store_true",
        help="add observation.environment_state: the latched stencil ahead of each needle tip",
    )
    p.add_argument(
        "--stencil-points",
        type=_positive(int),
        default=DEFAULT_POINTS_PER_ARM,
        help="stencil points ahead of each needle (default %(default)s)",
    )
    p.add_argument(
        "--depth",
        action="store_true",
        help="add observation.images.<camera>_depth per camera from its aligned depth topic "
        "(/<camera>/aligned_depth_to_color/image_raw, 16UC1 mm) in LeRobot's depth format",
    )
    p.add_argument(
        "--images", action="store_true", help="store frames as PNG (depth: TIFF) images instead of videos (lossless)"
    )
    p.add_argument("--vcodec", default="libsvtav1", help="video codec: libsvtav1 (LeRobot default), h264, hevc, auto")
    p.add_argument("--crf", type=int, help="video quality (codec default when omitted; lower = better)")
    p.add_argument("--preset", help="codec speed preset (libsvtav1: 0-13, h264: ultrafast..veryslow)")
    p.add_argument(
        "--no-streaming-encoding",
        action="store_true",
        help="write PNG frames and encode at the end of each episode instead of encoding while "
        "converting (slower, less memory)",
    )
    p.add_argument("--encoder-threads", type=_positive(int), help="threads per video encoder (codec default)")
    p.add_argument(
        "--interventions-only",
        action="store_true",
        help="keep only the frames with a human in control, each run of them an episode of its own "
        "(HG-DAgger: fine-tune on the corrections, never on the policy's own actions)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="add to an existing dataset: episodes already converted (same bag sha256) are skipped",
    )
    return p


def _cameras(config, entries: list[str] | None) -> tuple[CameraSpec, ...]:
    if entries is None:
        return tuple(CameraSpec(c.name, c.topic) for c in config.cameras)
    cameras = []
    for entry in entries:
        name, _, topic = entry.partition("=")
        if not topic:
            topic = config.camera(name).topic
        cameras.append(CameraSpec(name, topic))
    return tuple(cameras)


def run(args: argparse.Namespace) -> int:
    from datasets.utils.logging import disable_progress_bar
    from tqdm import tqdm

    from tatbot_recorder.core.bag_types import tatbot_typestore

    config = load_robot_config(args.config)
    fps = args.fps or round(config.policy_rate)
    spec = ConversionSpec(
        fps=fps,
        joint_names=tuple(config.joint_names),
        lerobot_names=tuple(config.lerobot_names),
        cameras=() if args.no_cameras else _cameras(config, args.camera),
        state_topic=args.state_topic,
        action_topic=args.action_topic,
        episode_topic=args.episode_topic,
        stencil_topic=args.stencil_topic,
        intervention_topic=args.intervention_topic,
        action_offset_periods=args.action_offset,
        state_max_age_s=args.state_max_age,
        action_max_age_s=args.action_max_age,
        image_max_age_s=args.image_max_age,
        image_size=args.image_size,
        environment_state=args.environment_state,
        depth=args.depth,
        stencil_points=args.stencil_points,
        default_task=args.task,
    )
    output = args.output.resolve()
    options = WriteOptions(
        repo_id=args.repo_id or f"tatbot/{output.name}",
        use_videos=not args.images,
        vcodec=args.vcodec,
        crf=args.crf,
        preset=args.preset,
        streaming_encoding=not args.no_streaming_encoding,
        encoder_threads=args.encoder_threads,
        resume=args.resume,
    )
    if options.use_videos:
        check_encoder(options)  # refuse a bad --vcodec/--crf/--preset before any bag is read
    typestore = tatbot_typestore()
    needle_tips = RobotKinematics.from_config(config).needle_tips if args.environment_state else None
    disable_progress_bar()  # the datasets library's per-episode bars would bury the sync report
    for note in recover_interrupted(output):
        print(f"bag_to_lerobot: {note}")
    existing_dataset(output, args.resume)  # refuse a bad --output before any bag is read
    done = set()
    if args.resume:
        check_resume_fps(output, fps)
        done = {e["key"] for e in read_ledger(output)}
    plans = []
    for path in tqdm(args.bags, desc="scanning bags", unit="bag", disable=len(args.bags) < 2):
        bag_plan = plan_bag(path, spec, typestore, needle_tips)
        for skip in bag_plan.skipped:
            print(f"{path}: episode {skip.index} skipped: {skip.reason}")
        episodes = bag_plan.episodes
        if args.interventions_only:
            episodes = [segment for p in episodes for segment in intervention_segments(p, fps)]
        fresh = [p for p in episodes if p.ledger_key not in done]
        if len(fresh) < len(episodes):
            print(f"{path}: {len(episodes) - len(fresh)} episodes already in the dataset (--resume)")
        plans += fresh
    if not plans:
        if args.resume and done:
            print(f"nothing new: {output} already holds every episode of these bags")
            return 0
        if args.interventions_only:
            raise ConversionError(
                "--interventions-only: no frame of " + ", ".join(map(str, args.bags)) + " has a human in control "
                f"(no true std_msgs/Bool on {args.intervention_topic}); nothing to convert"
            )
        raise ConversionError("no episode to convert in " + ", ".join(map(str, args.bags)) + " (see the skips above)")

    total = sum(p.frames for p in plans)
    source_s = sum(p.frames for p in plans) / fps
    t0 = time.monotonic()
    with tqdm(total=total, desc="converting", unit="frame") as bar:

        def report(index: int, plan) -> None:
            sync = plan.sync.report()
            streams = ", ".join(
                f"{name} {s['max_age_ms']:.1f} ms (held {s['held']})" for name, s in sync["streams"].items()
            )
            note = "".join(f"; {n}: {c} zero stamps, receive time used" for n, c in plan.stamp_fallbacks.items())
            if intervened := int(plan.intervention.sum()):
                note += f"; intervention on {intervened} frames"
            bar.write(
                f"episode {index} <- {plan.bag.name} #{plan.episode.index} {plan.episode.task!r}: "
                f"{sync['frames']} frames, dropped {sync['dropped_start']}+{sync['dropped_end']}; "
                f"max age: {streams}{note}"
            )

        result = write_dataset(plans, spec, output, options, typestore, on_episode=report, progress=bar.update)
    wall = time.monotonic() - t0
    print(
        f"wrote {len(result.written)} episodes ({sum(p.frames for _, p in result.written)} frames, "
        f"{source_s:.1f} s of data in {wall:.1f} s) to {result.root}; dataset now has "
        f"{result.total_episodes} episodes, {result.total_frames} frames; validated by reloading"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted: the dataset was finalized with the episodes saved so far", file=sys.stderr)
        return 130
    except (BagError, ConversionError, MissingTaskError, RobotConfigError, ValueError) as exc:
        print(f"bag_to_lerobot: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
