"""The BGP listener keeps the kernel's accept queue bgpd asks for (`LISTEN_BACKLOG`, which the
kernel clamps to net.core.somaxconn) once asyncio serves it: asyncio listens again with its
own backlog (100 unless told), which dropped the SYNs of a reflector's thousands of clients
reconnecting at once. Read back with `ss` (tests/integration/test_listen_backlog_raised.py
checks it in a namespace whose somaxconn is raised above SOMAXCONN)."""

from __future__ import annotations

import asyncio
import socket
import subprocess

from bgpd.config import parse_config
from bgpd.runtime.listeners import LISTEN_BACKLOG, BgpListeners


def test_the_listener_keeps_a_somaxconn_backlog_when_served() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = parse_config(
        f'[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\nlisten = ["127.0.0.1"]\nport = {port}\n'
        '[control]\nsocket = "/tmp/unused-backlog.ctl"\n'
    )

    async def run() -> int:
        listeners = BgpListeners(asyncio.get_running_loop(), asyncio.Protocol)
        await listeners.open(config)
        try:
            out = subprocess.run(
                ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
            ).stdout.split()
            return int(out[2])  # State Recv-Q Send-Q ...: a listener's Send-Q is its backlog
        finally:
            listeners.close()

    assert asyncio.run(run()) == min(LISTEN_BACKLOG, _somaxconn())


def _somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn", encoding="ascii") as f:
        return int(f.read())
