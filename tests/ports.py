"""Ports for the servers tests start (rendered server, Redis, Prometheus), collision-free under xdist.

Asking the kernel for port 0 and handing the number to a child leaves a window (the child's start,
about a second) in which any outgoing connection may take that port from the ephemeral range: with
load tests running on the other worker, that happens. These ports come from below the ephemeral
range, where the kernel never auto-assigns, in a slice of their own per xdist worker, never
handed out twice by one process and probed before use.
"""

from __future__ import annotations

import os
import random
import socket

SLICE = 400  # ports per xdist worker: far more than one worker starts in a session


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere the probe below still guards


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... (unset without xdist)
    return int(name[2:]) if name[2:].isdigit() else 0


def _candidates():
    top = _ephemeral_low()
    slices = max(1, (top - 10000) // SLICE)
    first = top - SLICE * (1 + _worker_index() % slices)
    # a different start per process, so two test sessions side by side rarely walk the same ports
    offset = random.Random(os.getpid()).randrange(SLICE)
    for i in range(SLICE):
        yield first + (offset + i) % SLICE


_ports = _candidates()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on and no other worker of this session will pick."""
    for port in _ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port left in this worker's slice of {SLICE}")
