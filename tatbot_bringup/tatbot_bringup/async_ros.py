"""Waiting inside coroutine callbacks (action servers) without holding an executor thread.

A blocking wait in a callback needs a MultiThreadedExecutor, whose idle threads busy-wait for
work and starve every other Python thread of the GIL on a small machine. Our long-running
callbacks are coroutines instead: they ``await sleep(node, s)`` and the node spins on a
SingleThreadedExecutor.
"""

from __future__ import annotations

from rclpy.callback_groups import CallbackGroup
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
