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


def send_goal(node: Node, client, goal, **options) -> Future:
    """``client.send_goal_async(goal, **options)`` run by ``node``'s executor; the returned future
    completes with the goal handle (or the exception).

    rclpy 9.1.2 (the Kilted wheels) registers a goal's response future twice, the second time
    outside its lock (ros2/rclpy#1532 removes the duplicate): sent from another thread while the
    executor spins, a fast response completes the first future and the one returned never
    completes (an evaluation once waited 180 s for a goal the policy had run). From the executor's
    own thread no response can be handled in between. A node in no executor sends directly."""
    executor = node.executor
    if executor is None:
        return client.send_goal_async(goal, **options)
    handle = Future()

    def sent(task: Future) -> None:
        if task.exception() is not None:
            handle.set_exception(task.exception())
            return
        task.result().add_done_callback(
            lambda f: handle.set_exception(f.exception()) if f.exception() else handle.set_result(f.result())
        )

    executor.create_task(client.send_goal_async, goal, **options).add_done_callback(sent)
    return handle


def spin(make_node: Callable[[], Node], args=None) -> None:
    """A node's main(): init rclpy, spin ``make_node()`` on a SingleThreadedExecutor until Ctrl-C or
    shutdown, then destroy the node (its destroy_node releases what it holds) and shut rclpy down.
    Errors from ``make_node()`` propagate, for main() to map to an exit code."""
    rclpy.init(args=args)
    node = None
    executor = SingleThreadedExecutor()
    try:
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down while the executor was between waits (an rclpy race)
    finally:
        if node is not None:
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
