"""The speaker's handling of received UPDATEs (`bgpd.speaker.ingest`): the bulk path and the
general one leave the Loc-RIB as the peer left it."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST, pack_prefix

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


def test_a_forwarded_prefix_is_one_key_object_in_the_loc_rib_and_the_adj_rib_out() -> None:
    """Memory per route: the Loc-RIB and the update group's Adj-RIB-Out share the prefix
    objects the decoder made (a copy would cost 48 bytes per route and table)."""
    net = RawNet()
    tor = net.connect("tor")
    net.connect("mesh")
    prefixes = [pack_prefix(f"10.{i}.0.0/16") for i in range(20)]
    net.send("tor", update_bytes(tor, prefixes[:12]))
    # 8-11 again with another path: replaced in both tables, under the keys they had
    net.send("tor", update_bytes(tor, prefixes[8:], communities=2))
    rib = net.speaker._rib._tables[IPV4_UNICAST]
    held = {id(key) for key in rib}
    assert len(held) == len(prefixes)
    tables = [g.adj_out.table(IPV4_UNICAST) for g in net.speaker._exporter._groups]
    sent = [table for table in tables if table]
    assert sent
    for table in sent:
        assert {id(key) for key in table} == held
