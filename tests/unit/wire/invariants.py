"""Properties every decoded message must have, whatever bytes it came from."""

from __future__ import annotations

from bgpd.net import ADDRESS_OCTETS
from bgpd.wire.messages import UpdateMessage

_MAX_BITS = {4: 32, 16: 128}


def check_update(msg: UpdateMessage) -> None:
    assert (msg.attributes is not None) == bool(msg.announced)
    for batch in msg.announced + msg.withdrawn:
        assert batch.family not in msg.disabled_families
        octets = ADDRESS_OCTETS[batch.family.afi]
        if batch in msg.announced:
            assert len(batch.next_hop) in ((4,) if octets == 4 else (16, 32))
        else:
            assert batch.next_hop == b""
        if batch.path_ids is not None:
            assert len(batch.path_ids) == len(batch.prefixes)
            assert all(0 <= i <= 0xFFFFFFFF for i in batch.path_ids)
        for prefix in batch.prefixes:
            length = prefix[0]
            assert length <= _MAX_BITS[octets]
            assert len(prefix) == 1 + (length + 7) // 8
            if length % 8:
                assert prefix[-1] & (0xFF >> (length % 8)) == 0  # host bits clear
    if msg.end_of_rib is not None:
        assert msg.announced == msg.withdrawn == ()
