"""arm_driver's parameters, as data (tatbot_bringup.parameters): its declarations, --help and the
launch-time checks of the system descriptions come from this one list; and the backend they name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tatbot_arm_driver.backends import ArmBackend
from tatbot_arm_driver.backends.mock import MockBackend
from tatbot_arm_driver.backends.trossen import TrossenBackend, arms_from_config
from tatbot_bringup.parameters import Param
from tatbot_bringup.robot_config import RobotConfig

BACKENDS = ("mock", "trossen")

PARAMETERS = (
    Param("backend", "mock", "arm backend", choices=BACKENDS, when="configure"),
    Param("config", "", "robot.yaml path; empty: the installed tatbot_bringup one", when="configure"),
    Param(
        "rate",
        0.0,
        "control and /joint_states rate, Hz; 0: the config's rates.joint_states",
        0.0,
        1000.0,
        when="configure",
    ),
    Param(
        "stream_timeout",
        0.0,
        "s without a new trajectory on ~/joint_trajectory before a stream decelerates to a hold; "
        "0: the config's safety.stream_timeout_periods / rates.policy",
        0.0,
        10.0,
        when="configure",
    ),
    Param("park_pose", "sleep", "pose moved to (slowly) on cleanup and shutdown", when="configure"),
    Param("autostart", True, "configure and activate on start"),
    Param("diagnostics_period", 1.0, "period of /diagnostics, s", 0.05, 60.0, when="configure"),
    Param("feedback_period", 0.1, "period of ~/execute_trajectory feedback, s", 0.01, 10.0, when="live"),
    Param("mock_lag", 0.02, "mock: first-order time constant of the joints, s", 0.0, 1.0, when="configure"),
    Param("mock_latency", 0.005, "mock: command latency, s", 0.0, 0.5, when="configure"),
    Param("mock_initial_pose", "sleep", "mock: config pose the mock arms start in", when="configure"),
    Param(
        "mock_tracking_noise",
        0.0,
        "mock: std of a smooth random tracking error of the revolute joints, rad (0: exact arms; "
        "demonstrations recorded with a few mrad teach a policy to correct errors)",
        0.0,
        0.05,
        when="configure",
    ),
    Param(
        "mock_tracking_noise_time", 0.4, "mock: correlation time of the tracking error, s", 0.01, 10.0, when="configure"
    ),
    Param("mock_seed", 0, "mock: seed of the tracking error", 0, 2**31 - 1, when="configure"),
    Param(
        "trossen_use_sim",
        False,
        "trossen: connect to each arm's trossen-arm-sim host (config arms[].sim)",
        when="configure",
    ),
    Param("trossen_model", "wxai_v0", "trossen: trossen_arm.Model of both arms", when="configure"),
    Param(
        "trossen_goal_time",
        0.0,
        "trossen: goal time of each streamed setpoint, s; 0: two control periods",
        0.0,
        5.0,
        when="configure",
    ),
    Param("trossen_connect_timeout", 20.0, "trossen: controller connection timeout, s", 0.1, 120.0, when="configure"),
)


def make_backend(param: Callable[[str], Any], config: RobotConfig, period: float) -> ArmBackend:
    """The backend ``param("backend")`` names, with its parameters' values (``param``: name -> value)
    and a control ``period`` (s)."""
    if param("backend") == "mock":
        return MockBackend(
            initial=config.pose(param("mock_initial_pose")),
            lag=param("mock_lag"),
            latency=param("mock_latency"),
            noise_std=param("mock_tracking_noise") * config.revolute,
            noise_time=param("mock_tracking_noise_time"),
            seed=param("mock_seed"),
            limits=(config.lower, config.upper),
        )
    return TrossenBackend(  # the parameter's choices are BACKENDS
        arms_from_config(config, use_sim=param("trossen_use_sim")),
        model=param("trossen_model"),
        goal_time=param("trossen_goal_time") or 2 * period,
        connect_timeout=param("trossen_connect_timeout"),
    )
