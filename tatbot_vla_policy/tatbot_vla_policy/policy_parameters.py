"""vla_policy's parameters, as data (tatbot_bringup.parameters): its declarations, --help and
the launch-time checks of the system descriptions come from this one list."""

from __future__ import annotations

from tatbot_bringup import topics
from tatbot_bringup.parameters import Param
from tatbot_bringup.robot_config import RobotConfig, load_robot_config
from tatbot_vla_policy.core.chunks import BlendMode
from tatbot_vla_policy.core.runner import DEVICES, DTYPES
from tatbot_vla_policy.retract import AFTER_RUN

INFERENCE_MODES = ("async", "sync")
MODEL_FAILURE_MODES = ("abort", "resume")
MODEL_TIMEOUT_MIN = 5.0  # s, smallest automatic model_timeout
MODEL_TIMEOUT_P95 = 10  # automatic model_timeout: this many times the recent inference p95
DEVICE_PATTERN = r"cuda:\d+"  # a device parameter may also name one GPU
CONFIG = Param("config", "", "robot.yaml path; '' = the installed tatbot_bringup one (as every node)")


def parameters(config: RobotConfig) -> tuple[Param, ...]:
    """vla_policy's parameters after ``config`` (its cameras and policy rate are the defaults)."""
    return (
        Param(
            "checkpoint",
            "",
            "LeRobot checkpoint: a pretrained_model dir, a checkpoint step dir or a lerobot-train output dir",
            when="configure",
        ),
        Param(
            "device",
            "auto",
            "torch device for the model",
            choices=DEVICES,
            pattern=DEVICE_PATTERN,
            when="configure",
        ),
        Param("dtype", "auto", "model dtype; auto keeps the checkpoint's", choices=tuple(DTYPES), when="configure"),
        Param(
            "torch_threads",
            0,
            "CPU threads torch may use (torch.set_num_threads); 0 keeps torch's default (all cores). "
            "On a small CPU shared with the driver and cameras, 1 is faster",
            0,
            256,
            when="configure",
        ),
        Param("warmup_iterations", 2, "model calls on a zero observation at configure", 0, 100, when="configure"),
        Param(
            "cameras",
            [c.name for c in config.cameras],
            "cameras (names from robot.yaml) the node may feed to the model; topics come from robot.yaml",
            when="configure",
        ),
        Param(
            "camera_map",
            [""],
            "renames 'checkpoint_camera=robot_camera' when a checkpoint's camera names differ; [''] = none",
            when="configure",
        ),
        Param(
            "hub_paths",
            [""],
            "'hub_id=local_dir' for every Hugging Face model the checkpoint names (SmolVLA's backbone, "
            "a tokenizer): nothing is downloaded at run time; [''] = none (local or cached references only)",
            when="configure",
        ),
        Param("task", "", "default task prompt, used when a ~/run goal has an empty task", when="live"),
        Param("autostart", True, "configure and activate on start when a checkpoint is given"),
        Param("publish_rate", config.policy_rate, "chunk publish rate, Hz", 0.5, 100.0, when="configure"),
        Param(
            "action_fps",
            0.0,
            "fps of the training data (dt between actions); 0 = the checkpoint's data contract's (else its dataset's)",
            0.0,
            1000.0,
            when="configure",
        ),
        Param(
            "action_offset_steps",
            -1,
            "action k of a chunk is due at observation time + (offset + k) * dt; -1 = the checkpoint's data "
            "contract's (bag_to_lerobot: 1, the target one period after the frame), else 1; 0 matches lerobot-record",
            -1,
            100,
            when="configure",
        ),
        Param(
            "publish_lead",
            0.01,
            "s; actions due sooner than this after a tick are dropped (time to validate, publish and "
            "deliver; keeps every chunk starting after its publish time)",
            0.0,
            0.5,
            when="configure",
        ),
        Param(
            "chunk_points",
            0,
            "actions per chunk to use; 0 = the checkpoint's n_action_steps",
            0,
            1000,
            when="configure",
        ),
        Param(
            "blend_mode",
            BlendMode.CROSSFADE.value,
            "how a new chunk joins the rest of the previous one",
            choices=tuple(m.value for m in BlendMode),
            when="configure",
        ),
        Param(
            "crossfade_time",
            0.2,
            "s from a new chunk's first action to its full weight (crossfade, rtc)",
            0.001,
            10.0,
            when="configure",
        ),
        Param(
            "ensemble_coeff",
            0.01,
            "temporal ensemble: the i-th prediction of a step weighs exp(-coeff*i) (ACT)",
            0.0,
            10.0,
            when="configure",
        ),
        Param(
            "rtc_execution_horizon",
            10,
            "rtc: actions of a new chunk guided towards the unexecuted rest of the plan (LeRobot RTCConfig)",
            1,
            1000,
            when="configure",
        ),
        Param(
            "max_observation_age",
            0.5,
            "s; an input older than this stops streaming (stale gate)",
            0.01,
            10.0,
            when="configure",
        ),
        Param(
            "inference_mode",
            "async",
            "async: a worker thread feeds the model (in its own process) the newest observation; "
            "sync: the publish loop waits for the model every tick (baseline)",
            choices=INFERENCE_MODES,
            when="configure",
        ),
        Param("dry_run", False, "publish chunks only on ~/action_chunk_preview (shadow mode)", when="configure"),
        Param(
            "recover_from_fault",
            True,
            "true: resume on the next valid chunk after an invalid one; false: end the run",
            when="live",
        ),
        Param(
            "max_rejected_in_a_row",
            30,
            "recover_from_fault: a run whose chunks are rejected this many times in a row ends with ERROR_FAULT "
            "(30: 3 s with a new chunk every tick); 0 = retry for as long as the goal lasts",
            0,
            100000,
            when="live",
        ),
        Param(
            "on_model_failure",
            MODEL_FAILURE_MODES[0],
            "when the model process dies or hangs (it is restarted either way): abort = end the run "
            "with ERROR_FAULT; resume = hold, and stream again on the same goal once restarted",
            choices=MODEL_FAILURE_MODES,
            when="live",
        ),
        Param(
            "model_timeout",
            0.0,
            f"s the model process may take for a chunk before it counts as hung (killed, restarted); "
            f"0 = {MODEL_TIMEOUT_P95} x the recent p95, at least {MODEL_TIMEOUT_MIN:g} s",
            0.0,
            600.0,
            when="live",
        ),
        Param("publish_markers", True, "publish predicted needle-tip paths for rviz2", when="configure"),
        Param("status_rate", 2.0, "PolicyStatus and /diagnostics rate, Hz", 1.0, 50.0),
        Param("recorder_timeout", 5.0, "s to wait for the recorder services (record_eval)", 0.1, 60.0, when="live"),
        Param("joint_states_topic", topics.JOINT_STATES, "sensor_msgs/JointState input", when="configure"),
        Param("stencil_topic", topics.STENCIL, "tatbot_interfaces/Stencil input (latched)", when="configure"),
        Param(
            "intervention_topic",
            topics.INTERVENTION,
            "std_msgs/Bool input (latched, the teleop node's): while true a human is in control and the run pauses",
            when="configure",
        ),
        Param("trajectory_topic", topics.JOINT_TRAJECTORY, "JointTrajectory output", when="configure"),
        Param("preview_topic", "~/action_chunk_preview", "JointTrajectory output in dry_run", when="configure"),
        Param("markers_topic", topics.CHUNK_MARKERS, "MarkerArray of needle-tip paths", when="configure"),
        Param("status_topic", topics.POLICY_STATUS, "PolicyStatus output"),
        Param("diagnostics_topic", topics.DIAGNOSTICS, "DiagnosticArray output"),
        Param("hold_service", topics.HOLD, "std_srvs/Trigger that stops and holds the arms"),
        Param(
            "retract_distance",
            0.01,
            "m the needles back out along their axes when a run ends (done, canceled, faulted); 0: hold in place",
            0.0,
            0.05,
            when="live",
        ),
        Param("retract_speed", 0.02, "m/s of the retract", 0.001, 0.2, when="live"),
        Param(
            "after_run",
            "hold",
            "after the retract: hold there, or go to the ready pose",
            choices=AFTER_RUN,
            when="live",
        ),
        Param("execute_action", topics.EXECUTE_TRAJECTORY, "ExecuteTrajectory action the retract goes to"),
        Param("go_to_pose_service", topics.GO_TO_POSE, "GoToPose service (after_run:=ready)"),
        Param("recorder_start_service", topics.RECORDER_START, "StartEpisode (record_eval)"),
        Param("recorder_stop_service", topics.RECORDER_STOP, "StopEpisode (record_eval)"),
    )


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return (CONFIG, *parameters(load_robot_config()))
