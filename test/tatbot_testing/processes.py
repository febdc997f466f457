"""Child processes of tests: stopped the way a user stops a node."""

from __future__ import annotations

import signal
import subprocess


def interrupt(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ctrl-C ``proc`` (resumed first, should it be stopped) and wait for it; kill it after ``timeout`` s."""
    proc.send_signal(signal.SIGCONT)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
