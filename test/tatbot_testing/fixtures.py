"""pytest plugin: isolated ROS 2 graph per test run, rclpy context per test, markers.

* ``ROS_DOMAIN_ID`` is a free domain claimed with a lock file for the whole run,
  so two runs on one host never cross-talk; ``ROS_AUTOMATIC_DISCOVERY_RANGE``
  is LOCALHOST. Both are exported, so node subprocesses inherit them.
* ``ros_context``: ``rclpy.init`` / ``shutdown`` around one test.
* ``ros_executor``: a MultiThreadedExecutor spinning in a background thread
  (``ros_single_executor``: the same on a SingleThreadedExecutor);
  ``ros_executor.add(node)`` and nodes are destroyed after the test.
* markers ``hardware``, ``gpu``, ``distro`` are skipped unless asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from pathlib import Path

import pytest

_domain_lock = None


def _claim_domain_id() -> int:
    global _domain_lock
    for domain in range(1, 102):
        path = Path(tempfile.gettempdir()) / f"tatbot-test-domain-{domain}.lock"
        handle = open(path, "w")  # noqa: SIM115 - held open for the whole run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _domain_lock = handle
        return domain
    raise RuntimeError("no free ROS_DOMAIN_ID in 1..101 (too many concurrent test runs)")


def pytest_addoption(parser):
    parser.addoption("--run-hardware", action="store_true", help="run tests marked 'hardware' (real arms)")
    parser.addoption("--run-gpu", action="store_true", help="run tests marked 'gpu' (CUDA GPU)")


def pytest_configure(config):
    if "TATBOT_TEST_DOMAIN_ID" not in os.environ:
        os.environ["TATBOT_TEST_DOMAIN_ID"] = str(_claim_domain_id())
    os.environ["ROS_DOMAIN_ID"] = os.environ["TATBOT_TEST_DOMAIN_ID"]
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")


def pytest_report_header(config):
    return f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"


def pytest_collection_modifyitems(config, items):
    import importlib.util

    has_launch = importlib.util.find_spec("launch_ros") is not None
    for item in items:
        if "hardware" in item.keywords and not config.getoption("--run-hardware"):
            item.add_marker(pytest.mark.skip(reason="needs the real robot: pass --run-hardware"))
        if "gpu" in item.keywords and not config.getoption("--run-gpu"):
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU: pass --run-gpu"))
        if "distro" in item.keywords and not has_launch:
            item.add_marker(pytest.mark.skip(reason="launch_ros is not importable: source a ROS 2 distro"))


@pytest.fixture
def ros_context():
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


class SpinningExecutor:
    """A MultiThreadedExecutor spun by a daemon thread; owns the nodes it is given."""

    def __init__(self, context, single_threaded: bool = False):
        from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

        self.context = context
        self.executor = (
            SingleThreadedExecutor(context=context)
            if single_threaded
            else MultiThreadedExecutor(num_threads=4, context=context)
        )
        self._nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def add(self, node):
        self._nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self):
        # the spin thread must be out of its wait set before any node's handles are destroyed
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=5.0)
        for node in self._nodes:
            node.destroy_node()


@pytest.fixture
def ros_single_executor(ros_context):
    """Like ros_executor, on a SingleThreadedExecutor: for nodes whose heavy work runs in their own
    threads (rclpy's MultiThreadedExecutor busy-waits while a callback runs and starves them)."""
    spinner = SpinningExecutor(ros_context, single_threaded=True)
    try:
        yield spinner
    finally:
        spinner.close()


@pytest.fixture
def ros_executor(ros_context):
    spinner = SpinningExecutor(ros_context)
    try:
        yield spinner
    finally:
        spinner.close()
