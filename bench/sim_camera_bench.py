"""Benchmark of the simulated wrist cameras (tatbot_arm_driver sim_camera).

Prints, at the configured resolution (640x480):

* core frames/s: FK + ink integration + render + image bytes, one thread, no ROS,
  while the left needle draws a stroke; and its ratio to the 2 x 30 = 60 frames/s needed;
* node frames/s: the real sim_camera node over DDS (SingleThreadedExecutor, as its main()),
  fed /joint_states at 100 Hz, frames received per camera, and the CPU cores the whole
  process (node + feeder + receiver) used.

Run: ``python bench/sim_camera_bench.py`` (env sourced).
"""

from __future__ import annotations

import threading
import time

import numpy as np

NEEDED_FPS = 60.0  # two cameras at 30 Hz


def _stroke_configurations(kin, config, count: int) -> np.ndarray:
    ready = config.pose("ready")
    tip = kin.needle_tip(ready, "left")
    t = np.linspace(0.0, 2 * np.pi, count)
    points = np.column_stack(
        [tip[0] + 0.02 * np.cos(t), tip[1] + 0.02 * np.sin(t), np.full(count, config.work_surface.z)]
    )
    qs, q = [], ready
    for p in points:
        q = kin.ik_needle_tip("left", p, q)
        qs.append(q)
    return np.array(qs)


def sim_camera_fps(seconds: float = 3.0) -> dict:
    """Frames/s of the renderer core (one thread) at the configured camera resolution."""
    from tatbot_arm_driver.core.render import CameraView, SurfaceCanvas
    from tatbot_bringup.kinematics import RobotKinematics
    from tatbot_bringup.robot_config import load_robot_config

    config = load_robot_config()
    kin = RobotKinematics.from_config(config)
    qs = _stroke_configurations(kin, config, 90)
    canvas = SurfaceCanvas(config.work_surface, len(config.arms))
    needles = [kin.index(f"{a.name}/tattoo_needle") for a in config.arms]
    views = [
        (kin.index(f"{c.name}_color_optical_frame"), CameraView(kin.camera_matrix(c.name), c.width, c.height))
        for c in config.cameras
    ]
    buffers = [np.empty((c.height, c.width, 3), np.uint8) for c in config.cameras]
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        T = kin.forward(qs[frames % len(qs)])
        canvas.update_tips(T[needles, :3, 3])
        optical, view = views[frames % len(views)]
        image = view.render(canvas, T[optical], T[needles, :3, 3], T[needles, :3, 2], out=buffers[frames % 2])
        image.tobytes()
        frames += 1
    fps = frames / (time.perf_counter() - start)
    cam = config.cameras[0]
    return {"resolution": f"{cam.width}x{cam.height}", "fps": fps, "ratio_to_needed": fps / NEEDED_FPS}


def sim_camera_node_fps(seconds: float = 5.0) -> dict:
    """Frames/s received from the real sim_camera node per camera, and CPU cores used."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState

    from tatbot_arm_driver.sim_camera_node import SimCameraNode
    from tatbot_bringup import qos
    from tatbot_bringup.kinematics import RobotKinematics
    from tatbot_bringup.robot_config import load_robot_config

    config = load_robot_config()
    qs = _stroke_configurations(RobotKinematics.from_config(config), config, 300)
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        camera = SimCameraNode(context=context)
        feeder = Node("sim_camera_bench", context=context)
        counts = dict.fromkeys(camera.cameras, 0)

        def counter(name):
            def on_image(msg):
                counts[name] += 1

            return on_image

        for cam in config.cameras:
            feeder.create_subscription(Image, cam.topic, counter(cam.name), qos.SENSOR_DATA)
        pub = feeder.create_publisher(JointState, "/joint_states", qos.JOINT_STATES)
        tick = [0]

        def publish():
            pub.publish(JointState(name=config.joint_names, position=qs[tick[0] % len(qs)].tolist()))
            tick[0] += 1

        feeder.create_timer(0.01, publish)
        executor.add_node(camera)
        executor.add_node(feeder)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20.0
        while min(counts.values()) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        before, cpu0, wall0 = dict(counts), time.process_time(), time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        rates = {name: (counts[name] - before[name]) / wall for name in counts}
        executor.shutdown(timeout_sec=5.0)
        camera.destroy_node()
        feeder.destroy_node()
        thread.join(timeout=5.0)
    finally:
        rclpy.try_shutdown(context=context)
    return {"fps": rates, "cpu_cores": cpu / wall}


def main() -> None:
    core = sim_camera_fps()
    print(
        f"sim_camera core: {core['fps']:.0f} frames/s at {core['resolution']} on one thread "
        f"({core['ratio_to_needed']:.1f}x the {NEEDED_FPS:.0f} frames/s of 2 cameras at 30 Hz)"
    )
    node = sim_camera_node_fps()
    rates = ", ".join(f"{name} {fps:.1f}" for name, fps in node["fps"].items())
    print(f"sim_camera node: received frames/s {rates}; process used {node['cpu_cores']:.2f} CPU cores")


if __name__ == "__main__":
    main()
