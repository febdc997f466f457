"""tatbot_recorder tests spin their nodes single-threaded (see tatbot_testing.fixtures)."""

import pytest


@pytest.fixture
def ros_executor(ros_single_executor):
    """The recorder's writer thread and the in-test publishers must not be starved of the GIL by
    rclpy's busy-waiting MultiThreadedExecutor."""
    return ros_single_executor
