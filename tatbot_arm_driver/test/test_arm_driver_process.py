"""The arm_driver executable as a process: Ctrl-C stops it cleanly however it was started."""

import signal
import subprocess

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
