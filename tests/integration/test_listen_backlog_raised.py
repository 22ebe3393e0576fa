"""On a host whose operator raised net.core.somaxconn for a big cluster (thousands of clients
reconnecting at once), bgpd's BGP listener gets the raised accept queue, not SOMAXCONN's 4,096
(5,000 nodes reconnecting overflowed it: SYNs dropped and retried 1-3 s later).

Run in a network namespace of its own (`unshare --net`), where the sysctl is raised and put
back with the namespace; the queue is read back with `ss`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RAISED = 20_000

SCRIPT = f"""
import asyncio, socket, subprocess, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from bgpd.config import parse_config
from bgpd.runtime.listeners import BgpListeners

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with open("/proc/sys/net/core/somaxconn", "w", encoding="ascii") as f:
    f.write("{RAISED}")
config = parse_config(
    '[bgp]\\nasn = 64512\\nrouter_id = "10.0.0.1"\\nlisten = ["127.0.0.1"]\\nport = 1790\\n'
    '[control]\\nsocket = "/tmp/unused-backlog-raised.ctl"\\n'
)

async def run() -> None:
    listeners = BgpListeners(asyncio.get_running_loop(), asyncio.Protocol)
    await listeners.open(config)
    for _ in range(100):
        out = subprocess.run(
            ["ss", "-Hltn", "sport = :1790"], capture_output=True, text=True, check=True
        ).stdout.split()
        if out:
            print(out[2])  # State Recv-Q Send-Q ...: a listener's Send-Q is its backlog
            break
        await asyncio.sleep(0.01)
    listeners.close()

asyncio.run(run())
"""


def test_the_listener_gets_a_raised_somaxconn() -> None:
    assert os.geteuid() == 0, "needs root for a network namespace"
    out = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.split() == [str(RAISED)], out.stderr
