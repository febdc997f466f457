"""Trossen WidowX AI arms through the ``trossen_arm`` SDK: one TrossenArmDriver per arm.

Works the same against real controllers (``arms[].ip``) and ``trossen-arm-sim`` servers
(``arms[].sim.host``). Units are the SDK's: rad for the six revolute joints, m for the gripper
(carriage) joint, which is what the canonical 14-vector uses too, so no conversion is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tatbot_arm_driver.backends.base import ArmBackend, BackendFault, Feedback


@dataclass(frozen=True)
class TrossenArm:
    name: str  # arm name in the config, e.g. "left"
    host: str  # controller (or simulator) IP address
    end_effector: str  # trossen_arm.StandardEndEffector attribute, e.g. "wxai_v0_base"
    columns: tuple[int, ...]  # canonical columns of this arm's joints, in SDK order


def arms_from_config(config, use_sim: bool) -> tuple[TrossenArm, ...]:
    """One TrossenArm per config arm; its joints are the canonical ones named ``<arm>/...``."""
    arms = []
    for arm in config.arms:
        columns = tuple(i for i, name in enumerate(config.joint_names) if name.startswith(f"{arm.name}/"))
        arms.append(
            TrossenArm(
                name=arm.name,
                host=arm.sim_host if use_sim else arm.ip,
                end_effector=arm.end_effector,
                columns=columns,
            )
        )
    covered = sorted(c for arm in arms for c in arm.columns)
    if covered != list(range(len(config.joint_names))):
        raise BackendFault(
            f"the config's arms {[a.name for a in config.arms]} do not cover the joints "
            f"{config.joint_names} exactly once (each joint must be named '<arm>/...')"
        )
    return tuple(arms)


class TrossenBackend(ArmBackend):
    """Position mode on every joint; setpoints streamed with ``set_all_positions(..., blocking=False)``."""

    name = "trossen"

    def __init__(self, arms: Sequence[TrossenArm], model: str, goal_time: float, connect_timeout: float):
        if goal_time <= 0:
            raise ValueError(f"goal_time must be > 0 s, got {goal_time}")
        self._arms = tuple(arms)
        self._model = model
        self._goal_time = float(goal_time)
        self._connect_timeout = float(connect_timeout)
        self._sdk = None  # the trossen_arm module, imported by open()
        self._drivers: list = []
        self._n_joints = sum(len(arm.columns) for arm in self._arms)

    def open(self) -> None:
        try:
            import trossen_arm
        except ImportError as exc:
            raise BackendFault(
                f"the trossen backend needs the trossen_arm SDK (pip install trossen-arm): {exc}"
            ) from exc
        try:
            model = getattr(trossen_arm.Model, self._model)
        except AttributeError:
            raise BackendFault(f"unknown trossen_arm model {self._model!r}") from None
        self.close()
        self._sdk = trossen_arm
        for arm in self._arms:
            try:
                end_effector = getattr(trossen_arm.StandardEndEffector, arm.end_effector)
            except AttributeError:
                raise BackendFault(f"arm {arm.name}: unknown trossen_arm end effector {arm.end_effector!r}") from None
            driver = trossen_arm.TrossenArmDriver()
            try:
                driver.configure(model, end_effector, arm.host, False, self._connect_timeout)
                if driver.get_num_joints() != len(arm.columns):
                    raise BackendFault(
                        f"arm {arm.name} at {arm.host} has {driver.get_num_joints()} joints, "
                        f"the config names {len(arm.columns)}"
                    )
                driver.set_all_modes(trossen_arm.Mode.position)
            except BackendFault:
                self._drivers.append(driver)
                self.close()
                raise
            except Exception as exc:  # the SDK raises its own RuntimeError/LogicError types
                self._drivers.append(driver)
                self.close()
                raise BackendFault(
                    f"arm {arm.name}: cannot connect to the controller at {arm.host} "
                    f"(check power, network and that the address is right): {exc}"
                ) from exc
            self._drivers.append(driver)

    def read(self) -> Feedback:
        self._require_open()
        position = np.empty(self._n_joints)
        velocity = np.empty(self._n_joints)
        sequence = []
        for arm, driver in zip(self._arms, self._drivers, strict=True):
            try:
                output = driver.get_robot_output()
            except Exception as exc:
                raise BackendFault(f"arm {arm.name} at {arm.host}: reading the joint state failed: {exc}") from exc
            cols = list(arm.columns)
            position[cols] = list(output.joint.all.positions)
            velocity[cols] = list(output.joint.all.velocities)
            sequence.append(int(output.header.id))  # counts up with every new controller sample
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(velocity))):
            raise BackendFault(f"non-finite joint state from the controllers: {position.tolist()}")
        return Feedback(position, velocity, tuple(sequence))

    def command(self, position: np.ndarray, velocity: np.ndarray) -> None:
        self._require_open()
        for arm, driver in zip(self._arms, self._drivers, strict=True):
            cols = list(arm.columns)
            try:
                driver.set_all_positions(
                    np.asarray(position)[cols].tolist(),
                    self._goal_time,
                    False,
                    np.asarray(velocity)[cols].tolist(),
                )
            except Exception as exc:
                raise BackendFault(f"arm {arm.name} at {arm.host}: command failed: {exc}") from exc

    def close(self) -> None:
        errors = []
        for arm, driver in zip(self._arms, self._drivers, strict=False):
            try:
                driver.set_all_modes(self._sdk.Mode.idle)
                driver.cleanup()
            except Exception as exc:
                errors.append(f"arm {arm.name}: {exc}")
        self._drivers = []
        if errors:
            raise BackendFault(f"closing the arms failed: {'; '.join(errors)}")

    def _require_open(self) -> None:
        if len(self._drivers) != len(self._arms):
            raise BackendFault("trossen backend is not open (call open() first)")
