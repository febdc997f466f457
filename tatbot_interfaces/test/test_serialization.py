"""Every tatbot_interfaces type round-trips through rclpy serialization (CDR)."""

import pytest
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from tatbot_interfaces.action import ExecuteTrajectory, RunPolicy
from tatbot_interfaces.msg import EpisodeEvent, PolicyStatus, Stencil
from tatbot_interfaces.srv import GoToPose, StartEpisode, StopEpisode

pytestmark = pytest.mark.ros

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="world")


def _trajectory():
    return JointTrajectory(
        header=HEADER,
        joint_names=["left/joint_0", "right/joint_0"],
        points=[
            JointTrajectoryPoint(positions=[0.1, -0.2], time_from_start=Duration(sec=0, nanosec=100_000_000)),
            JointTrajectoryPoint(positions=[0.2, -0.3], velocities=[1.0, -1.0], time_from_start=Duration(sec=1)),
        ],
    )


SAMPLES = [
    EpisodeEvent(
        header=HEADER,
        event=EpisodeEvent.DISCARD,
        index=7,
        task="left: line, right: arc",
        success=True,
        metadata_json='{"stroke": 3}',
    ),
    PolicyStatus(
        header=HEADER,
        state=PolicyStatus.STATE_FAULT,
        detail="NaN in chunk",
        model="act @ /ckpt",
        task="draw",
        step=42,
        inference_ms_last=31.5,
        inference_ms_mean=30.0,
        inference_ms_p95=44.0,
        observation_age_ms=12.0,
        publish_rate_hz=10.0,
        chunks_dropped=1,
        chunks_rejected=2,
    ),
    Stencil(
        header=HEADER,
        name="demo/ep0001",
        left=[Point(x=0.1, y=0.2, z=0.0), Point(x=0.11, y=0.2, z=0.0)],
        right=[Point(x=0.1, y=-0.2, z=0.0)],
        left_description="line",
        right_description="dot",
    ),
    StartEpisode.Request(task="t", metadata_json="{}"),
    StartEpisode.Response(
        error_code=StartEpisode.Response.ERROR_ALREADY_RECORDING,
        error_string="busy",
        index=3,
        bag_path="/tmp/bag",
    ),
    StopEpisode.Request(success=True, discard=False),
    StopEpisode.Response(error_code=StopEpisode.Response.SUCCESS, index=3, duration=12.5, message_count=900),
    GoToPose.Request(pose_name="ready", duration=2.0),
    GoToPose.Response(error_code=GoToPose.Response.ERROR_UNKNOWN_POSE, error_string="unknown pose 'x'"),
    ExecuteTrajectory.Goal(trajectory=_trajectory()),
    ExecuteTrajectory.Result(
        error_code=ExecuteTrajectory.Result.ERROR_INVALID_TRAJECTORY,
        error_string="NaN at point 1",
        max_tracking_error=0.01,
    ),
    ExecuteTrajectory.Feedback(
        header=HEADER,
        joint_names=["a"],
        desired=JointTrajectoryPoint(positions=[1.0]),
        actual=JointTrajectoryPoint(positions=[0.9]),
        error=JointTrajectoryPoint(positions=[0.1]),
    ),
    RunPolicy.Goal(task="draw the stencil", max_steps=100, record_eval=True),
    RunPolicy.Result(
        error_code=RunPolicy.Result.ERROR_CANCELED,
        success=False,
        steps=17,
        message="canceled",
        bag_path="/tmp/eval",
    ),
    RunPolicy.Feedback(step=5, latency_ms=40.0, inference_ms=33.0),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__qualname__)
def test_round_trip(msg):
    data = serialize_message(msg)
    assert isinstance(data, bytes) and len(data) > 4
    back = deserialize_message(data, type(msg))
    assert back == msg
    assert back is not msg


def test_constants_are_distinct():
    assert len({EpisodeEvent.START, EpisodeEvent.STOP, EpisodeEvent.DISCARD}) == 3
    states = [getattr(PolicyStatus, n) for n in dir(PolicyStatus) if n.startswith("STATE_") and n.isupper()]
    assert len(states) == len(set(states)) == 5
    for result in (
        StartEpisode.Response,
        StopEpisode.Response,
        GoToPose.Response,
        ExecuteTrajectory.Result,
        RunPolicy.Result,
    ):
        codes = [getattr(result, n) for n in dir(result) if n.startswith(("SUCCESS", "ERROR_")) and n.isupper()]
        assert result.SUCCESS == 0
        assert len(codes) == len(set(codes)) >= 2, result
