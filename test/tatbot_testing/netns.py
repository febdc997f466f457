"""Two machines on one host: network namespaces "robot" and "gpu" joined by a veth pair.

Each namespace has its own loopback and one end of the veth pair (10.231.<n>.1 and .2/24, no other
route), so DDS traffic between them crosses the veth as it would cross a cable, and can be capped
(``tc tbf``: this kernel has no netem) or cut (``ip link set down``). Needs root (CAP_NET_ADMIN) and
``ip``/``tc`` (iproute2); :func:`unavailable` says why not, for a skip.

Processes run in a namespace with ``ip netns exec``. Their DDS settings are those of the README's
"Two machines": discovery beyond localhost (``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``), the other
machine as a static peer (``ROS_STATIC_PEERS``), and Fast DDS on UDPv4 only (two real machines
cannot share memory; here they could, and the cap and cut would not touch that traffic).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

HOSTS = ("robot", "gpu")


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)


def unavailable() -> str | None:
    """Why two namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) is not installed"
    probe = f"tatbot-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class TwoHosts:
    """``with TwoHosts() as hosts``: the namespaces exist inside the block and are deleted after it
    (with their veth ends, and so with every route between them)."""

    def __init__(self, subnet: int | None = None):
        n = subnet if subnet is not None else os.getpid() % 250 + 1
        self.netns = {host: f"tatbot-{host}-{os.getpid()}" for host in HOSTS}
        self.device = {host: f"tb{host[0]}{os.getpid() % 100000}" for host in HOSTS}  # <= 15 chars
        self.address = {"robot": f"10.231.{n}.1", "gpu": f"10.231.{n}.2"}

    def describe(self) -> dict:
        """What another process needs to act on these namespaces (:meth:`attach`)."""
        return {"netns": self.netns, "device": self.device, "address": self.address}

    @classmethod
    def attach(cls, description: dict) -> TwoHosts:
        """The namespaces another process made (not deleted by this object's ``__exit__``)."""
        hosts = cls.__new__(cls)
        hosts.netns, hosts.device, hosts.address = description["netns"], description["device"], description["address"]
        return hosts

    def __enter__(self) -> TwoHosts:
        try:
            for host in HOSTS:
                _ip("ip", "netns", "add", self.netns[host])
                _ip("ip", "link", "set", "lo", "up", netns=self.netns[host])
            robot, gpu = self.device["robot"], self.device["gpu"]
            ends = [robot, "netns", self.netns["robot"], "type", "veth", "peer", gpu, "netns", self.netns["gpu"]]
            _ip("ip", "link", "add", *ends)
            for host in HOSTS:
                ns, dev = self.netns[host], self.device[host]
                _ip("ip", "addr", "add", f"{self.address[host]}/24", "dev", dev, netns=ns)
                _ip("ip", "link", "set", dev, "up", "multicast", "on", netns=ns)
                _ip("ip", "route", "add", "224.0.0.0/4", "dev", dev, netns=ns)  # DDS discovery multicast
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for ns in self.netns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def peer(self, host: str) -> str:
        return self.address["gpu" if host == "robot" else "robot"]

    def env(self, host: str, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a process on ``host``: the README's two-machine DDS settings."""
        env = dict(os.environ if base is None else base)
        env.update(
            ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET",
            ROS_STATIC_PEERS=self.peer(host),
            FASTDDS_BUILTIN_TRANSPORTS="UDPv4",
        )
        return env

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns[host], *argv]

    def popen(self, host: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(host, argv), env=self.env(host, kwargs.pop("env", None)), **kwargs)

    def link(self, up: bool) -> None:
        """Plug or unplug the cable (both ends, as a cable would)."""
        for host in HOSTS:
            _ip("ip", "link", "set", self.device[host], "up" if up else "down", netns=self.netns[host])
        if up:  # the multicast routes went with the link
            for host in HOSTS:
                _ip("ip", "route", "replace", "224.0.0.0/4", "dev", self.device[host], netns=self.netns[host])

    def cap(self, rate: str | None) -> None:
        """Cap each direction at ``rate`` (tc's units, e.g. "2mbit"; token bucket, 50 ms of queue);
        None removes the cap."""
        for host in HOSTS:
            ns, dev = self.netns[host], self.device[host]
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
            if rate:
                bucket = ["rate", rate, "burst", "32kbit", "latency", "50ms"]
                _ip("tc", "qdisc", "add", "dev", dev, "root", "tbf", *bucket, netns=ns)
