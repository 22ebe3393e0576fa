"""The speaker's handling of received UPDATEs (`bgpd.speaker.ingest`): the bulk path and the
general one leave the Loc-RIB as the peer left it."""

from __future__ import annotations

from bgpd.net import pack_prefix

from .raw_peers import RawNet, update_bytes


def test_an_update_withdrawing_one_prefix_and_announcing_another_does_both() -> None:
    net = RawNet()
    tor = net.connect("tor")
    mesh = net.connect("mesh")
    old, new = pack_prefix("10.1.0.0/16"), pack_prefix("10.2.0.0/16")
    net.send("tor", update_bytes(tor, [old]))
    assert mesh.announced() == {"10.1.0.0/16"}
    net.send("tor", update_bytes(tor, [new], withdrawn=(old,)))
    assert mesh.announced() == {"10.2.0.0/16"}
