"""A peer's last error: the newer of its last NOTIFICATION and its last failed connection."""

from __future__ import annotations

from bgpd.session.counters import LastError, PeerCounters


def test_the_newest_error_wins_and_a_socket_error_reads_as_bird_says_it() -> None:
    counters = PeerCounters()
    assert counters.last_error_text() == ""
    counters.note_socket_error("Connection refused", 10.0)
    assert counters.last_error_text() == "Socket: Connection refused"
    counters.last_error = LastError(
        code=6, subcode=2, text="Cease/Administrative Shutdown", at=20.0, sent=False
    )
    assert counters.last_error_text() == "Received: Cease/Administrative Shutdown"
    counters.note_socket_error("Connection timed out", 30.0)
    assert counters.last_error_text() == "Socket: Connection timed out"
