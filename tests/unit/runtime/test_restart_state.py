"""The restart state file at the runtime edge (bgpd/runtime/restart_state.py)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

from bgpd.config import Config, parse_config
from bgpd.runtime.restart_state import LOOK_S, RestartStateWriter, read_state, write_record
from bgpd.speaker.start_mode import RestartRecord, decide_start, decode_record


def config(path: Path) -> Config:
    return parse_config(
        f'[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\ncluster_id = "224.0.0.1"\n'
        f'restart_state_file = "{path}"\n'
    )


def test_a_record_is_written_atomically_readable_and_alone(tmp_path: Path) -> None:
    path = tmp_path / "restart-state.json"
    assert read_state(str(path)).text is None  # a fresh location
    old = os.umask(0o077)  # the units' UMask=
    try:
        write_record(str(path), RestartRecord(sessions_up_at=12.5, held_for=390))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["restart-state.json"]  # no temporary or probe file left
    state = read_state(str(path))
    assert state.write_error is None and state.error is None and state.text is not None
    assert decode_record(state.text) == RestartRecord(sessions_up_at=12.5, held_for=390)


def test_a_location_that_cannot_be_written_or_read_is_reported(tmp_path: Path) -> None:
    missing = read_state(str(tmp_path / "gone" / "restart-state.json"))
    assert missing.write_error is not None and "no such file" in missing.write_error
    directory = tmp_path / "restart-state.json"
    directory.mkdir()  # a directory where the file should be
    unreadable = read_state(str(directory))
    assert unreadable.error is not None


def test_the_writer_records_sessions_up_and_a_clean_stop(tmp_path: Path) -> None:
    path = tmp_path / "restart-state.json"
    cfg = config(path)
    up = [False]

    async def scenario() -> None:
        writer = RestartStateWriter(asyncio.get_running_loop(), lambda: cfg, lambda: up[0])
        await asyncio.sleep(LOOK_S + 0.2)  # one look with no session up: nothing is recorded
        assert not path.exists()
        up[0] = True
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first = decode_record(path.read_text())
        assert not first.clean_stop and abs(first.sessions_up_at - time.time()) < 5
        # The next start, within the window, is a restarting one.
        d = decide_start(cfg, now=time.time(), state=read_state(str(path)))
        assert (d.restarting, d.reason) == (True, "sessions_up_recently")
        writer.stopping()
        last = decode_record(path.read_text())
        assert last.clean_stop and last.held_for == 120

    asyncio.run(scenario())
