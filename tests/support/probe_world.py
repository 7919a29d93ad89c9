"""The lab's outside world for the probes: a network namespace on the real node's host holding every
address stand-in of the connectivity model (the ALB, VPC hosts, RDS, internet hosts, addresses just outside
each private range), with one probe agent listening on all of them.

Why a namespace and not addresses on the node itself: kube-router accepts everything whose source is a
local address of the node, so an ALB on the node's `lo` would pass every ingress rule. From a namespace of
its own, behind a veth, the world's traffic reaches the pods routed, through FORWARD, like a VPC host's:
the policies' ipBlocks decide. The addresses are routed to it by /32 host routes, which go with the
namespace when it is deleted. IPv4 only: the real node runs no IPv6.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.probe_lab import CONTROL_PORT

from kubelocal.wait import eventually

NETNS = "webstack-probe-world"
HOST_LINK = "wsworld0"
WORLD_LINK = "world0"
# A link-local hop for the world's default route (the host side of the veth); never routed anywhere else.
GATEWAY = "169.254.77.1"


def setup_commands(addresses: list[str]) -> list[list[str]]:
    """The namespace, its veth to the host, its addresses, and the routes both ways."""
    ns = ["ip", "-n", NETNS]
    commands = [
        ["ip", "netns", "add", NETNS],
        ["ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", WORLD_LINK, "netns", NETNS],
        ["ip", "addr", "add", f"{GATEWAY}/32", "dev", HOST_LINK],
        ["ip", "link", "set", HOST_LINK, "up"],
        [*ns, "link", "set", "lo", "up"],
        [*ns, "link", "set", WORLD_LINK, "up"],
        [*ns, "route", "add", GATEWAY, "dev", WORLD_LINK],
        [*ns, "route", "add", "default", "via", GATEWAY, "dev", WORLD_LINK],
    ]
    for address in addresses:
        commands.append([*ns, "addr", "add", f"{address}/32", "dev", WORLD_LINK])
        commands.append(["ip", "route", "add", f"{address}/32", "dev", HOST_LINK])
    return commands


def teardown_commands() -> list[list[str]]:
    """Deleting the namespace deletes its veth pair, and with the host end the routes through it."""
    return [["ip", "netns", "delete", NETNS]]


class World:
    """The namespace and its agent, for one test module."""

    def __init__(self, addresses: list[str], agent: Path, ports: list[str], log: Path) -> None:
        self.addresses, self.agent, self.ports, self.log = addresses, agent, ports, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def control(self) -> str:
        """The address the test sends the world's batches to (any of its own)."""
        return self.addresses[0]

    def start(self) -> World:
        subprocess.run(teardown_commands()[0], capture_output=True, check=False)  # a crashed run's
        for command in setup_commands(self.addresses):
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        binds = [arg for a in self.addresses for arg in ("--bind", a)]
        serve = ["serve", "--quiet", "--control", str(CONTROL_PORT), *binds, *self.ports]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    NETNS,
                    sys.executable,
                    "-I",
                    "-u",
                    "-c",
                    self.agent.read_text(),
                    *serve,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        eventually(
            self.log.read_text, until=lambda t: t.startswith("serving"), timeout=30, what="the world's agent"
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
        for command in teardown_commands():
            subprocess.run(command, capture_output=True, check=False, timeout=30)
