"""The arm_driver executable as a process: Ctrl-C stops it cleanly however it was started."""

import signal
import subprocess
import time

from tatbot_bringup.launch_runner import find_executable


def test_sigint_stops_the_driver_started_with_sigint_ignored():
    # a script's background job (`arm_driver &`) starts with SIGINT ignored, and Python keeps it so
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        for line in proc.stdout:
            if "active: motion enabled" in line:
                break
        else:
            raise AssertionError(f"arm_driver exited (code {proc.wait()}) before becoming active")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output


def test_a_failed_autostart_exits_non_zero_naming_why():
    proc = subprocess.run(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", "backend:=nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "configure failed: parameter backend is 'nope'" in proc.stdout + proc.stderr


def test_sigint_stops_an_unconfigured_driver():
    # nothing wakes the executor of a driver that was never configured (no timers): Ctrl-C still works
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", "autostart:=false"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3.0)  # well past start-up
        assert proc.poll() is None, proc.communicate()[0]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 2.0, "Ctrl-C took more than 2 s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
