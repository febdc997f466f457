"""Waiting inside coroutine callbacks (action servers) without holding an executor thread.

A blocking wait in a callback needs a MultiThreadedExecutor, whose idle threads busy-wait for
work and starve every other Python thread of the GIL on a small machine. Our long-running
callbacks are coroutines instead: they ``await sleep(node, s)`` and the node spins on a
SingleThreadedExecutor.
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.callback_groups import CallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future


async def sleep(node: Node, seconds: float, callback_group: CallbackGroup | None = None) -> None:
    """Resume after ``seconds`` (a one-shot timer of ``node`` resolves a future)."""
    done = Future()

    def fire():
        timer.cancel()
        if not done.done():
            done.set_result(None)

    timer = node.create_timer(seconds, fire, callback_group=callback_group)
    try:
        await done
    finally:
        node.destroy_timer(timer)


def spin(make_node: Callable[[], Node], args=None) -> None:
    """A node's main(): init rclpy, spin ``make_node()`` on a SingleThreadedExecutor until Ctrl-C or
    shutdown, then destroy the node and shut rclpy down."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
