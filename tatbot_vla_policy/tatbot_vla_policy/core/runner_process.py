"""A :class:`PolicyRunner` in its own process: the model computes under its own interpreter lock.

In the node's process, torch releases and re-takes the GIL around every op and competes for it
with the executor, the sensor callbacks and the publish loop; on a small CPU that made a chunk
~1.5-2x slower than the same model called alone (bench/policy_bench.py). In a child process the
model only competes for CPU time. The node's worker thread calls :meth:`RunnerProcess.predict`
as it would call :meth:`PolicyRunner.predict`; it sends the observation over the socket and waits
(without the GIL) for the chunk.

The child is a fresh interpreter (``python -m tatbot_vla_policy.core.runner_process FD``: safe
beside DDS threads and CUDA, and unlike multiprocessing's ``spawn`` it never re-runs the caller's
``__main__``) connected by a socket pair. It loads and warms up the checkpoint, then serves
``predict``/``reset`` requests until :meth:`close` or until the parent's end closes (the node died).
"""

from __future__ import annotations

import gc
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import torch

from tatbot_vla_policy.core.features import Feature
from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner, resolve_checkpoint

POLL_S = 0.5  # s between liveness checks while waiting for the child


class ModelProcessError(RuntimeError):
    """The model process failed a request, or died."""


def _serve(conn: Connection) -> None:
    """Child process: load, warm up, report the model's description, answer requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the node's to handle; it closes us
    try:
        options = conn.recv()
        if options["torch_threads"]:
            torch.set_num_threads(options["torch_threads"])
        runner = PolicyRunner(
            options["checkpoint"],
            device=options["device"],
            dtype=options["dtype"],
            robot_type=options["robot_type"],
            hub_paths=options["hub_paths"],
            rtc_execution_horizon=options["rtc_execution_horizon"],
        )
        runner.warm_up(options["warmup_iterations"], options["task"])
    except Exception as exc:
        conn.send(("error", exc if isinstance(exc, CheckpointError) else f"{type(exc).__name__}: {exc}"))
        return
    # the model and torch leave ~10^6 long-lived objects: keep full collections from rescanning them
    gc.collect()
    gc.freeze()
    conn.send(
        (
            "ok",
            {
                "description": repr(runner),
                "checkpoint": runner.checkpoint,
                "device": runner.device,
                "policy_type": runner.policy_type,
                "inputs": runner.inputs,
                "outputs": runner.outputs,
                "n_obs_steps": runner.n_obs_steps,
                "n_action_steps": runner.n_action_steps,
                "unnormalized_inputs": runner.unnormalized_inputs,
                "rtc": runner.rtc,
            },
        )
    )
    while True:
        try:
            op, *args = conn.recv()
        except EOFError:  # the node is gone
            return
        if op == "close":
            return
        try:
            conn.send(("ok", getattr(runner, op)(*args)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RunnerProcess:
    """:class:`PolicyRunner`'s interface (what the node uses) over a model in a child process.

    Construction blocks until the checkpoint is loaded and warmed up; a checkpoint that cannot be
    loaded raises :class:`CheckpointError` as :class:`PolicyRunner` would.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        robot_type: str = "",
        torch_threads: int = 0,
        warmup_iterations: int = 0,
        task: str = "",
        hub_paths: dict[str, str] | None = None,
        rtc_execution_horizon: int = 0,
    ):
        checkpoint = resolve_checkpoint(checkpoint)  # a wrong path fails here, before a process starts
        self._lock = threading.Lock()  # one request at a time (worker thread vs run start)
        self._options = {
            "checkpoint": str(checkpoint),
            "device": device,
            "dtype": dtype,
            "robot_type": robot_type,
            "torch_threads": torch_threads,
            "warmup_iterations": warmup_iterations,
            "task": task,
            "hub_paths": dict(hub_paths or {}),
            "rtc_execution_horizon": rtc_execution_horizon,
        }
        with self._lock:
            info = self._start()
        self._description = info["description"]
        self.checkpoint: Path = info["checkpoint"]
        self.device: str = info["device"]
        self.policy_type: str = info["policy_type"]
        self.inputs: dict[str, Feature] = info["inputs"]
        self.outputs: dict[str, Feature] = info["outputs"]
        self.n_obs_steps: int = info["n_obs_steps"]
        self.n_action_steps: int = info["n_action_steps"]
        self.unnormalized_inputs: list[str] = info["unnormalized_inputs"]
        self.rtc: bool = info["rtc"]

    def _start(self) -> dict:
        """Spawn the model process and load the checkpoint in it (lock held); its description."""
        parent_end, child_end = socket.socketpair()
        # the child imports what this process can import, and never reaches for the Hub: every model
        # a checkpoint names is local or cached (core.hub_refs) or loading fails naming it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "HF_HUB_OFFLINE": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child_end.fileno())], pass_fds=[child_end.fileno()], env=env
        )
        child_end.close()
        self._conn = Connection(parent_end.detach())
        try:
            self._conn.send(self._options)
            return self._receive(None)
        except CheckpointError:
            self._kill()
            raise
        except (ModelProcessError, OSError) as exc:
            self._kill()
            raise CheckpointError(f"cannot load {self._options['checkpoint']}: {exc}") from exc

    def restart(self) -> None:
        """Replace the model process by a fresh one with the same checkpoint and options (after it
        died or hung); CheckpointError when the new one cannot load it."""
        with self._lock:
            self._kill()
            self._start()

    def __repr__(self) -> str:
        return self._description

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def predict(
        self,
        features: dict[str, np.ndarray],
        task: str,
        prefix: np.ndarray | None = None,
        inference_delay: int = 0,
        timeout: float | None = None,
    ) -> np.ndarray:
        """As :meth:`PolicyRunner.predict`, computed in the model process. A model process that does
        not answer within ``timeout`` s (None: no limit) is killed: ModelProcessError."""
        return self._request(("predict", features, task, prefix, inference_delay), timeout)

    def reset(self, timeout: float | None = None) -> None:
        self._request(("reset",), timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the model process (idempotent)."""
        with self._lock:
            if self._process.poll() is None:
                try:
                    self._conn.send(("close",))
                    self._process.wait(timeout)
                except (OSError, subprocess.TimeoutExpired):
                    self._kill()
            self._conn.close()

    def _kill(self) -> None:
        """Stop the model process now (lock held)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._conn.close()

    def _request(self, message, timeout: float | None = None):
        """Send one (op, *args) message and return the answer."""
        with self._lock:
            try:
                self._conn.send(message)
            except (BrokenPipeError, OSError) as exc:
                raise ModelProcessError(self._death()) from exc
            return self._receive(timeout)

    def _receive(self, timeout: float | None):
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while not self._conn.poll(min(POLL_S, max(0.0, deadline - time.monotonic()))):
            if self._process.poll() is not None:
                raise ModelProcessError(self._death())
            if time.monotonic() >= deadline:
                pid = self._process.pid
                self._kill()
                raise ModelProcessError(f"the model process (pid {pid}) did not answer within {timeout:.3g} s: killed")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelProcessError(self._death()) from exc
        if status == "error":
            raise payload if isinstance(payload, CheckpointError) else ModelProcessError(payload)
        return payload

    def _death(self) -> str:
        try:
            code = self._process.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        return f"the model process (pid {self._process.pid}) exited with code {code}"


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
