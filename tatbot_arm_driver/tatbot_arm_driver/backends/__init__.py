"""Arm backends behind one interface (:class:`ArmBackend`); pure Python, no rclpy."""

from tatbot_arm_driver.backends.base import ArmBackend, BackendFault, Feedback, flowing_feedback

__all__ = ["ArmBackend", "BackendFault", "Feedback", "flowing_feedback"]
