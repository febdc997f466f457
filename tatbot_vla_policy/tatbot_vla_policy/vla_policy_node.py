"""vla_policy: run a LeRobot policy as a lifecycle node streaming 14-DoF action chunks.

configure  start the model process: load the checkpoint (LeRobot factory + processors)
           and warm up; check its features against the configured cameras/joints;
           create subscriptions
activate   start the inference worker; ~/run goals start streaming
deactivate end the run, stop the worker, hold the driver
cleanup    stop the model process

Sensor callbacks only cache the newest samples (core.observation). The inference
worker thread (inference_worker; with inference_mode=sync, the publish loop itself:
the baseline) hands the newest observation to the model process (model_supervisor,
core.runner_process) and turns the answer into a timed chunk; the publish loop (its
own thread) asks the streaming core (core.streaming) what to do at each tick of
publish_rate and publishes the re-timed, blended, validated JointTrajectory it gives.
~/run goals: run_action.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable

import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from tatbot_arm_driver.conversions import msg_from_spec, seconds_from_time, time_from_seconds
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectorySpec
from tatbot_bringup import qos
from tatbot_bringup.async_ros import spin
from tatbot_bringup.kinematics import KinematicsError, RobotKinematics
from tatbot_bringup.parameters import ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.robot_config import RobotConfigError, aligned_depth_topic, load_robot_config
from tatbot_interfaces.action import RunPolicy
from tatbot_interfaces.msg import PolicyStatus, Stencil
from tatbot_vla_policy.conversions import (
    STATE_NAMES,
    ImageEncodingError,
    image_to_depth,
    image_to_rgb,
    points_to_array,
    status_diagnostics,
    tip_path_markers,
)
from tatbot_vla_policy.core.chunks import (
    BlendConfig,
    BlendMode,
    ChunkScheduler,
    TimedChunk,
)
from tatbot_vla_policy.core.features import FeatureMismatch, cameras_by_topic, check_features, parse_camera_map
from tatbot_vla_policy.core.hub_refs import parse_hub_paths
from tatbot_vla_policy.core.observation import ObservationBuffer, ObservationError, depth_formats
from tatbot_vla_policy.core.runner import (
    CheckpointError,
    check_contract,
    data_contract,
    dataset_fps,
    dataset_info,
)
from tatbot_vla_policy.core.runner_process import RunnerProcess
from tatbot_vla_policy.core.stats import RateMeter
from tatbot_vla_policy.core.streaming import ChunkStreamer, Fault, Pause, Publish, Run, TickHooks, TickInputs
from tatbot_vla_policy.inference_worker import InferenceWorker
from tatbot_vla_policy.model_supervisor import ModelSupervisor
from tatbot_vla_policy.policy_parameters import CONFIG, parameters, schema
from tatbot_vla_policy.retract import NeedleRetract
from tatbot_vla_policy.run_action import RunAction, RunHooks

# s; Python's default 5 ms lets one thread (an executor callback, a torch op) keep the interpreter
# that long while the publish loop or the worker waits for it. Measured when the model still ran in
# this process (torch re-takes the GIL after every op): node chunk rate 4.2 -> 8.1 Hz,
# observation-to-publish p95 741 -> 228 ms on 2 shared cores; it keeps wake-ups prompt now too.
GIL_SWITCH_INTERVAL = 0.0005
# torch intra-op threads of this process, whose little tensor work is depth dequantization (the
# model has its own process and torch_threads): more threads only contend with the model process
# (measured: observation snapshot 3.6 -> 1.3 ms mean, 16 -> 3 ms p95 on 2 shared cores)
NODE_TORCH_THREADS = 1


class VlaPolicyNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("vla_policy", **kwargs)
        self._lock = threading.Lock()
        self._state = PolicyStatus.STATE_UNCONFIGURED
        self._detail = "no model loaded: configure the node"
        self._runner: RunnerProcess | None = None
        self._run: Run | None = None
        self._active = False
        self._worker: InferenceWorker | None = None  # the newest observation -> a chunk (after configure)
        self._model: ModelSupervisor | None = None  # the runner kept alive: timing, timeout, restarts
        self._streamer: ChunkStreamer | None = None  # the publish tick's decisions (core.streaming), after configure
        self._last_obs_age = 0.0
        self._publish_rate = RateMeter()
        self._threads: list[threading.Thread] = []  # publish loop and inference worker, while active
        self._stop_threads = threading.Event()
        self._scheduler: ChunkScheduler | None = None
        self._published_seq = -1  # prediction behind the last published plan
        self._followed: TrajectorySpec | None = None  # the last chunk published, while the driver follows it
        self._stop_after_human: Callable[[], None] | None = None  # a run's end that came while a human was in control
        # made in configure, destroyed in cleanup
        self._model_subs: list = []
        self._model_pubs: list = []
        self._run_action: RunAction | None = None
        self._retract: NeedleRetract | None = None
        self._declare_parameters()  # after the state above: a bad robot.yaml raises, then destroy runs
        # needle tips (the stencil input, the chunk markers) and the needle retract at a run's end
        try:
            self._kinematics: RobotKinematics | None = RobotKinematics.from_config(self._robot)
        except KinematicsError as exc:
            self._kinematics = None
            self.get_logger().warning(f"no arm model ({exc}): runs end by holding in place, without the retract")

        self._sensor_group = ReentrantCallbackGroup()
        self._client_group = ReentrantCallbackGroup()
        status_group = MutuallyExclusiveCallbackGroup()
        self._status_pub = self.create_publisher(PolicyStatus, self._param("status_topic"), qos.STATUS)
        self._diag_pub = self.create_publisher(DiagnosticArray, self._param("diagnostics_topic"), qos.STATUS)
        self.create_timer(1.0 / self._param("status_rate"), self._publish_status, callback_group=status_group)
        self._hold_client = self.create_client(Trigger, self._param("hold_service"), callback_group=self._client_group)
        self._retract = NeedleRetract(
            self,
            self._kinematics,
            self._robot.joint_names,
            self._param("execute_action"),
            self._param("go_to_pose_service"),
            self._hold,
            self._client_group,
        )
        hooks = RunHooks(
            loaded=lambda: str(self._runner) if self._active and self._runner is not None else "",
            running=lambda: self._run is not None,
            start=self._start_run,
            end=lambda run, code, message: self._end_run(run, code, message, hold=True, retract=True),
            retracting=lambda: self._retract.busy,
            awaiting_human=lambda: self._stop_after_human is not None,
            inference_ms=lambda: self._model.stats.summary()[0] if self._model is not None else 0.0,
        )
        self._run_action = RunAction(self, hooks, self._client_group)
        # `ros2 run` / launch with a checkpoint just works: load the model and enable ~/run goals
        if not self._param("checkpoint"):
            self.get_logger().info(
                "no checkpoint: set the checkpoint parameter (ros2 param set /vla_policy checkpoint <dir>), "
                "then configure and activate the node"
            )
        elif self._param("autostart") and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------ parameters

    def _declare_parameters(self) -> None:
        self._robot = load_robot_config(declare(self, [CONFIG])["config"] or None)
        declare(self, parameters(self._robot), configurable=lambda: self._state == PolicyStatus.STATE_UNCONFIGURED)

    def _param(self, name: str):
        return self.get_parameter(name).value

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (CheckpointError, FeatureMismatch, RobotConfigError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._release()
            self._set_state(PolicyStatus.STATE_UNCONFIGURED, f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._set_state(PolicyStatus.STATE_IDLE, "model loaded; activate, then send a ~/run goal")
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        checkpoint = self._param("checkpoint")
        if not checkpoint:
            raise ValueError("parameter checkpoint is empty: set it to a LeRobot pretrained_model directory")
        cameras = list(self._param("cameras"))
        for name in cameras:
            self._robot.camera(name)  # RobotConfigError names the known cameras
        camera_map = parse_camera_map([e for e in self._param("camera_map") if e])
        self._blend = BlendConfig(
            mode=BlendMode(self._param("blend_mode")),
            crossfade_time=self._param("crossfade_time"),
            ensemble_coeff=self._param("ensemble_coeff"),
        )
        self._sync = self._param("inference_mode") == "sync"

        warmup = self._param("warmup_iterations")
        start = time.perf_counter()
        runner = RunnerProcess(
            checkpoint,
            device=self._param("device"),
            dtype=self._param("dtype"),
            robot_type=self._robot.name,
            torch_threads=self._param("torch_threads"),
            warmup_iterations=warmup,
            task=self._param("task"),
            hub_paths=parse_hub_paths([e for e in self._param("hub_paths") if e]),
            rtc_execution_horizon=self._param("rtc_execution_horizon") if self._blend.mode is BlendMode.RTC else 0,
        )
        self._runner = runner
        self._model = ModelSupervisor(
            runner,
            lambda: self._param("model_timeout"),
            self._stop_threads,
            self.get_logger(),
            self._on_model_restarted,
        )
        loaded_s = time.perf_counter() - start
        contract = data_contract(runner.checkpoint)  # what the training data's converter decided
        if contract is not None:
            check_contract(contract, self._robot.joint_names)
            topics = {c.name: c.topic for c in self._robot.cameras}
            camera_map = camera_map or cameras_by_topic(contract.cameras, topics)
        spec = check_features(runner.inputs, runner.outputs, cameras, len(self._robot.joints), camera_map)
        for key in runner.unnormalized_inputs:
            self.get_logger().warning(
                f"{key} reaches the model unnormalized: its feature type is not in the checkpoint's "
                'normalization_mapping (train with e.g. --policy.normalization_mapping=\'{..., "ENV": "MEAN_STD"}\')'
            )
        fps = self._param("action_fps") or (contract.fps if contract else dataset_fps(runner.checkpoint))
        if not fps:
            raise ValueError(
                f"cannot tell the training fps of {runner.checkpoint} (its dataset is not on this machine): "
                "set parameter action_fps to the dataset's fps"
            )
        self._dt = 1.0 / fps
        self._chunk_points = self._param("chunk_points")
        offset = self._param("action_offset_steps")
        self._offset_steps = offset if offset >= 0 else (contract.action_offset_steps if contract else 1)
        self._publish_lead = self._param("publish_lead")
        self._max_age = self._param("max_observation_age")
        self._dry_run = self._param("dry_run")
        self._spec = spec
        self._publish_markers = self._param("publish_markers")
        if self._kinematics is None and (self._publish_markers or spec.uses_stencil):
            needs = "the checkpoint takes the stencil" if spec.uses_stencil else "or set publish_markers:=false"
            raise ValueError(f"no arm model (RobotKinematics) for the needle tips; {needs}")
        tips = self._kinematics.needle_tips if self._kinematics else None
        formats, notes = depth_formats(spec, dataset_info(runner.checkpoint), contract)
        for note in notes:
            self.get_logger().warning(note)
        self._buffer = ObservationBuffer(
            self._robot.joint_names, spec, runner.n_obs_steps, self._dt, needle_tips=tips, depth_formats=formats
        )
        self._scheduler = ChunkScheduler(self._blend)
        self._streamer = ChunkStreamer(
            self._scheduler,
            SafetyLimits.from_config(self._robot),
            self._publish_lead,
            self._blend.crossfade_time,
            self._now,
        )
        self._worker = InferenceWorker(
            self._model,
            self._buffer,
            self._scheduler,
            spec.action_dim,
            self._dt,
            self._offset_steps,
            self._chunk_points,
            1.0 / self._param("publish_rate"),
            self._publish_lead,
            self._max_age,
            self._now,
        )

        # torch, LeRobot and rclpy leave many long-lived objects; a full (gen 2) collection scanning
        # them stalls every thread of this process. Freeze them out of the collector (the model
        # process does the same for the model); cleanup unfreezes.
        gc.collect()
        gc.freeze()
        self.get_logger().info(
            f"loaded {runner} on {runner.device} in model process {runner.pid} ({runner.n_obs_steps} obs step(s), "
            f"dt {self._dt * 1e3:.0f} ms, "
            f"cameras {[c.camera for c in spec.cameras]}, depth {[d.camera for d in spec.depths]}, "
            f"stencil points {spec.stencil_points_per_arm}); "
            f"loaded and {warmup} warm-up call(s) in {loaded_s:.2f} s"
        )

        cmd_topic = self._param("preview_topic") if self._dry_run else self._param("trajectory_topic")
        self._traj_pub = self.create_publisher(JointTrajectory, cmd_topic, qos.COMMANDS)
        self._markers_pub = self.create_publisher(MarkerArray, self._param("markers_topic"), qos.STATUS)
        self._model_pubs += [self._traj_pub, self._markers_pub]
        self._model_subs.append(
            self.create_subscription(
                JointState,
                self._param("joint_states_topic"),
                self._on_joint_state,
                qos.JOINT_STATES,
                callback_group=self._sensor_group,
            )
        )
        for cam in spec.cameras:
            topic = self._robot.camera(cam.camera).topic
            self._model_subs.append(
                self.create_subscription(
                    Image,
                    topic,
                    lambda msg, name=cam.camera: self._on_image(name, msg),
                    qos.SENSOR_DATA,
                    callback_group=self._sensor_group,
                )
            )
        for depth in spec.depths:  # the camera's aligned depth, when the checkpoint takes it
            self._model_subs.append(
                self.create_subscription(
                    Image,
                    aligned_depth_topic(depth.camera),
                    lambda msg, name=depth.camera: self._on_image(name, msg, depth=True),
                    qos.SENSOR_DATA,
                    callback_group=self._sensor_group,
                )
            )
        self._model_subs.append(
            self.create_subscription(
                Bool,
                self._param("intervention_topic"),
                self._on_intervention,
                qos.LATCHED,
                callback_group=self._sensor_group,
            )
        )
        if spec.uses_stencil:
            self._model_subs.append(
                self.create_subscription(
                    Stencil,
                    self._param("stencil_topic"),
                    self._on_stencil,
                    qos.LATCHED,
                    callback_group=self._sensor_group,
                )
            )

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._active = True
        self._stop_threads.clear()
        loops = [self._publish_loop] if self._sync else [self._publish_loop, self._worker_loop]
        self._threads = [threading.Thread(target=loop, name=loop.__name__, daemon=True) for loop in loops]
        for thread in self._threads:
            thread.start()
        self._set_state(PolicyStatus.STATE_IDLE, "active: send a ~/run goal to start streaming")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop("node deactivated", hold=True, retract=True)
        self._set_state(PolicyStatus.STATE_IDLE, "inactive: activate to run")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self._set_state(PolicyStatus.STATE_UNCONFIGURED, "no model loaded: configure the node")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._stop("node shut down", hold=True)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """End a running goal and the worker before the node's handles go away."""
        self._stop("node destroyed", hold=False)
        if self._run_action is not None:
            self._run_action.destroy()
        if self._retract is not None:
            self._retract.destroy()
        super().destroy_node()

    def _stop(self, reason: str, hold: bool, retract: bool = False) -> None:
        """End the run (its goal aborts with ERROR_NOT_ACTIVE) and join the loops."""
        self._active = False
        run = self._run
        if run is not None:
            self._end_run(run, RunPolicy.Result.ERROR_NOT_ACTIVE, reason, hold=hold, retract=retract)
        self._stop_threads.set()
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._threads = []

    def _release(self) -> None:
        self._stop_after_human = None  # unloaded: nothing of a run is left to stop
        for sub in self._model_subs:
            self.destroy_subscription(sub)
        for pub in self._model_pubs:
            self.destroy_publisher(pub)
        self._model_subs, self._model_pubs = [], []
        if self._runner is not None:
            self._runner.close()
        self._runner = self._model = self._worker = None
        self._scheduler = self._streamer = None
        gc.unfreeze()

    @property
    def runner(self) -> RunnerProcess | None:
        """The loaded policy, in its model process (after configure)."""
        return self._runner

    # ------------------------------------------------------------------ inputs (cache only)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp(self, header) -> float:
        """Header stamp in seconds; an unset (zero) stamp means 'now' (receive time)."""
        t = seconds_from_time(header.stamp)
        return t if t > 0 else self._now()

    def _on_joint_state(self, msg: JointState) -> None:
        self._buffer.add_joint_state(self._stamp(msg.header), msg.name, msg.position)

    def _on_image(self, camera: str, msg: Image, depth: bool = False) -> None:
        try:
            if depth:
                self._buffer.add_depth(camera, self._stamp(msg.header), image_to_depth(msg))
            else:
                self._buffer.add_image(camera, self._stamp(msg.header), image_to_rgb(msg))
        except ImageEncodingError as exc:
            self.get_logger().error(f"{camera}{' depth' if depth else ''}: {exc}", throttle_duration_sec=5.0)

    def _on_intervention(self, msg: Bool) -> None:
        with self._lock:
            handed_back = self._worker.human and not msg.data
            if msg.data:
                self._followed = None  # the human's steps replace the chunk
            self._worker.intervention(msg.data)
            stop, self._stop_after_human = (self._stop_after_human, None) if handed_back else (None, None)
        if stop is not None:
            stop()

    def _on_stencil(self, msg: Stencil) -> None:
        try:
            self._buffer.set_stencil(points_to_array(msg.left), points_to_array(msg.right))
        except ValueError as exc:
            self.get_logger().error(f"stencil {msg.name!r} ignored: {exc}")

    # ------------------------------------------------------------------ inference

    def _worker_loop(self) -> None:
        self._worker.loop(lambda: self._run, self._stop_threads)

    def _on_model_restarted(self) -> None:
        if self._worker is not None:  # else cleaned up meanwhile
            self._worker.forget_seen()
        if self._run is None and self._active:
            self._set_state(PolicyStatus.STATE_IDLE, "model process restarted: send a ~/run goal")

    # ------------------------------------------------------------------ publishing (publish_rate loop)

    def _publish_loop(self) -> None:
        """Tick at publish_rate on a monotonic schedule in its own thread (executor load and
        callback latency never delay it); after a tick overran a whole period (a stall, or a
        model slower than the period in sync mode) the schedule restarts from now."""
        period = 1.0 / self._param("publish_rate")
        deadline = time.monotonic()
        while not self._stop_threads.is_set():
            self._worker.next_tick = deadline + period  # the worker aims its next chunk at it
            try:
                self._on_tick()
            except Exception as exc:  # keep ticking (and holding) whatever one tick raised
                self.get_logger().error(f"publish tick failed: {type(exc).__name__}: {exc}")
                run = self._run
                if run is not None:
                    self._on_fault(run, f"publish tick failed: {exc}")
            deadline += period
            now = time.monotonic()
            if now > deadline + period:
                deadline = now
            self._stop_threads.wait(max(0.0, deadline - now))

    def _on_tick(self) -> None:
        run = self._run
        if run is None or not self._active:
            return
        now = self._now()
        try:
            self._last_obs_age, stale = self._buffer.check(now, self._max_age), ""
        except ObservationError as exc:
            stale = str(exc)
        inputs = TickInputs(
            now=now,
            streaming=self._state == PolicyStatus.STATE_RUNNING,
            human=self._worker.human,
            stale=stale,
            model_failure_ends=self._param("on_model_failure") == "abort",
            restarting=self._model.restarting,
            max_rejected_in_a_row=self._param("max_rejected_in_a_row"),
            state=self._buffer.latest_state(),
        )
        hooks = TickHooks(
            take_model_failure=self._model.take_failure,
            infer=(lambda: self._worker.infer_once(run)) if self._sync else (lambda: None),
            take_fault=self._worker.take_fault,
        )
        match self._streamer.tick(run, inputs, hooks):
            case Pause(waiting, detail, hold):
                self._pause(PolicyStatus.STATE_WAITING if waiting else PolicyStatus.STATE_FAULT, detail, hold)
            case Fault(reason, end):
                self._on_fault(run, reason, end)
            case Publish(plan, spec):
                self._publish(run, plan, spec)

    def _publish(self, run: Run, plan: TimedChunk, spec) -> None:
        msg = msg_from_spec(spec, self._robot.base_frame)
        with self._lock:  # a run ended meanwhile (cancel, deactivate) sent its retract: nothing after it,
            if self._run is not run or self._worker.human:  # nor after a human took over (theirs now)
                return
            self._traj_pub.publish(msg)
            self._followed = spec
        now = self._now()
        if self._publish_markers:
            tips = self._kinematics.needle_tips(plan.actions)  # (N, arms, 3)
            arms = [arm.name for arm in self._robot.arms]
            self._markers_pub.publish(tip_path_markers(tips, arms, self._robot.base_frame, time_from_seconds(now)))
        self._publish_rate.tick(now)
        if plan.seq != self._published_seq:
            self._published_seq = plan.seq
            run.latency_ms = (now - plan.obs_stamp) * 1e3
        ChunkStreamer.published(run)
        self._set_state(PolicyStatus.STATE_RUNNING, "")
        if run.max_steps and run.steps >= run.max_steps:
            self._end_run(run, RunPolicy.Result.SUCCESS, f"published {run.steps} chunks", hold=True, retract=True)

    def _on_fault(self, run: Run, reason: str, end: bool | None = None) -> None:
        """Report FAULT; end the run (ERROR_FAULT, the needles retracted) when ``end``, by default
        unless recover_from_fault; else hold and wait."""
        if self._run is not run:  # ended meanwhile: its retract must not be held up
            return
        ending = end if end is not None else not self._param("recover_from_fault")
        self._pause(PolicyStatus.STATE_FAULT, reason, hold=not ending)
        if ending:
            self._end_run(run, RunPolicy.Result.ERROR_FAULT, reason, hold=True, retract=True)

    def _pause(self, state: int, detail: str, hold: bool = True) -> None:
        """Stop streaming: forget queued actions and (``hold``) hold the driver if we were moving it."""
        entering_fault = state == PolicyStatus.STATE_FAULT and self._state != PolicyStatus.STATE_FAULT
        self._scheduler.clear()
        if hold and (self._state == PolicyStatus.STATE_RUNNING or entering_fault):
            self._hold()
        self._set_state(state, detail)

    def _hold(self) -> None:
        self._followed = None
        if self._dry_run:
            return
        if not self._hold_client.service_is_ready():
            self.get_logger().warning(
                f"cannot hold the arms: {self._hold_client.srv_name} is not available",
                throttle_duration_sec=5.0,
            )
            return
        self._hold_client.call_async(Trigger.Request())

    def _set_state(self, state: int, detail: str) -> None:
        if (state, detail) != (self._state, self._detail):
            text = f"{STATE_NAMES[state]}: {detail or 'streaming'}"
            if state == PolicyStatus.STATE_FAULT:
                self.get_logger().error(text)
            else:
                self.get_logger().info(text)
        self._state, self._detail = state, detail

    # ------------------------------------------------------------------ runs (~/run action)

    def _start_run(self, run: Run) -> None:
        self._model.reset()
        self._scheduler.clear()
        self._buffer.restart_stencil()
        self._worker.start_run()
        self._published_seq = -1
        self._followed = None
        self._publish_rate.clear()
        self._set_state(PolicyStatus.STATE_WAITING, "run started: waiting for the first chunk")
        self._run = run

    def _end_run(self, run: Run, code: int, message: str, hold: bool, retract: bool = False) -> None:
        """End ``run`` with ``code``; ``hold``: stop the arms, by the needle retract when ``retract``
        (then hold or go to ready: after_run), else where they are.
        A human in control has the arms: the stop waits for them to hand back, then starts from
        where they left the arms (their steps would replace it)."""
        with self._lock:
            if self._run is not run:
                return
            self._run = None
            human = self._worker.human and hold
            if human:
                self._stop_after_human = lambda: self._stop_arms(retract)
        self._scheduler.clear()
        run.error_code, run.message = code, message
        try:
            if human:
                self.get_logger().info("the run ended with a human in control: the arms stop once they hand back")
            elif hold:
                self._stop_arms(retract)
        finally:
            self._set_state(PolicyStatus.STATE_IDLE, f"run ended: {message}")
            run.done.set()

    def _stop_arms(self, retract: bool) -> None:
        """Hold the arms where they are, or back the needles out first when ``retract``."""
        try:
            if retract and not self._dry_run:
                now, plan, self._followed = self._now(), self._followed, None
                q = self._buffer.fresh_state(now, self._max_age)
                rate = self._param("publish_rate")
                distance, speed = self._param("retract_distance"), self._param("retract_speed")
                self._retract.start(q, distance, speed, rate, self._param("after_run"), plan, now)
            else:
                self._hold()
        except Exception as exc:  # the arms still stop
            self.get_logger().error(f"the retract failed ({type(exc).__name__}: {exc}): holding")
            self._hold()

    # ------------------------------------------------------------------ status

    def _publish_status(self) -> None:
        now = self._now()
        run, model = self._run, self._model
        last, mean, p95 = model.stats.summary() if model is not None else (0.0, 0.0, 0.0)
        msg = PolicyStatus(
            state=self._state,
            detail=self._detail,
            model=str(self._runner) if self._runner is not None else "",
            task=run.task if run is not None else "",
            step=run.steps if run is not None else 0,
            inference_ms_last=last,
            inference_ms_mean=mean,
            inference_ms_p95=p95,
            observation_age_ms=self._last_obs_age * 1e3,
            publish_rate_hz=self._publish_rate.rate(now),
            chunks_dropped=self._scheduler.dropped if self._scheduler is not None else 0,
            chunks_rejected=self._streamer.rejected if self._streamer else 0,
        )
        msg.header.stamp = time_from_seconds(now)
        self._status_pub.publish(msg)
        restarts = model.restarts if model is not None else 0
        extra = {"model_restarts": str(restarts), "last_run_end": self._retract.last or "none yet"}
        self._diag_pub.publish(status_diagnostics(msg, f"{self.get_name()}: policy", extra))


def main(args=None) -> int:
    exit_on_help(args, "tatbot_vla_policy vla_policy", __doc__, schema)
    # this process is the node's: see GIL_SWITCH_INTERVAL, NODE_TORCH_THREADS
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    torch.set_num_threads(NODE_TORCH_THREADS)
    # single-threaded: callbacks only cache inputs, ~/run is a coroutine, the inference worker and
    # the 10 Hz publisher have their own threads and the model its own process (a
    # MultiThreadedExecutor busy-waits and starves the threads)
    try:
        spin(VlaPolicyNode, args)
    except (ParameterError, RobotConfigError) as exc:
        return exit_on_error("vla_policy", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
