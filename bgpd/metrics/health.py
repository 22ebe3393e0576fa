"""Health rules for `/livez` and `/readyz`: calico-node's `-bird-live` / `-bird-ready` semantics.

Role: `readiness()` is a pure function of a snapshot and the time since start, so the rules are
tested table-driven on a fake clock; `probe_unix_socket()` is the liveness check of the control
socket (one request line, one reply line, with a deadline).

Readiness (calico-node `-bird-ready`, `../shared/reference/calico-bgp.md` §3.2):
- zero configured peers is ready;
- within `threshold` seconds of start, every peer must be Established and no graceful restart
  of ours may be in progress (`Graceful restart in progress`);
- after the threshold, one Established peer is enough;
- the reason names the peers that are not Established, in Calico's wording
  (`BGP not established with 10.0.0.2,10.0.0.3`), so runbooks written for Calico still match;
- an in-process confd watcher that stopped makes bgpd not ready whatever the peers (it is
  exiting: its config would no longer follow the datastore).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from bgpd.metrics.snapshot import MetricsSnapshot

__all__ = ["DEFAULT_READY_THRESHOLD_S", "Health", "probe_unix_socket", "readiness"]

DEFAULT_READY_THRESHOLD_S = 30  # calico-node -threshold-time default


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    ok: bool
    reason: str


def readiness(snapshot: MetricsSnapshot, *, since_start: float, threshold: float) -> Health:
    if snapshot.confd is not None and snapshot.confd.stopped is not None:
        return Health(ok=False, reason=f"confd watcher stopped: {snapshot.confd.stopped}")
    peers = snapshot.peers
    if not peers:
        return Health(ok=True, reason="no BGP peers configured")
    down = [p.address for p in peers if not p.up]
    if since_start < threshold:
        if snapshot.graceful_restart_in_progress:
            return Health(ok=False, reason="Graceful restart in progress")
        if down:
            return Health(ok=False, reason=f"BGP not established with {','.join(down)}")
        return Health(ok=True, reason=f"BGP established with all {len(peers)} peers")
    if len(down) < len(peers):
        up = len(peers) - len(down)
        return Health(ok=True, reason=f"BGP established with {up} of {len(peers)} peers")
    return Health(ok=False, reason=f"BGP not established with {','.join(down)}")


async def probe_unix_socket(path: str, request: bytes, timeout: float) -> Health:
    """Sends `request` (one line) to the unix socket at `path` and waits for one reply line."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
    except TimeoutError:
        return Health(ok=False, reason=f"control socket {path} did not answer within {timeout} s")
    except OSError as exc:
        return Health(ok=False, reason=f"control socket {path}: {exc.strerror or exc}")
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if not line.endswith(b"\n"):
        return Health(ok=False, reason=f"control socket {path} closed without answering")
    return Health(ok=True, reason="event loop and control socket answer")
