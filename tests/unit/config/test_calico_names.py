"""The one home of Calico's session naming and passive-side rules (`bgpd.config.calico_names`)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from bgpd.config.calico_names import greater_address_is_passive, protocol_id


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.2", "10_0_0_2"),
        ("fd00::2", "fd00__2"),
        ("2001:db8::10.0.0.1", "2001_db8__a00_1"),
    ],
)
def test_protocol_id_same_for_text_and_address_objects(address: str, expected: str) -> None:
    # confd's templates hold text, the mesh and the reflector hold ipaddress objects; the
    # textual form of an address object is its compressed form.
    assert protocol_id(ip_address(address)) == expected
    if ip_address(address).compressed == address:
        assert protocol_id(address) == expected


def test_greater_address_is_passive_compares_strings_not_numbers() -> None:
    # "10.0.0.9" > "10.0.0.10" as Go's `gt` on strings says (Calico issue #5461).
    assert greater_address_is_passive("10.0.0.9", "10.0.0.10") is True
    assert greater_address_is_passive(ip_address("10.0.0.9"), ip_address("10.0.0.10")) is True
    assert greater_address_is_passive("10.0.0.10", "10.0.0.9") is False
    assert greater_address_is_passive("10.0.0.1", "10.0.0.1") is False


def test_calico_node_and_mesh_share_the_rule() -> None:
    from bgpd.confd import calico_node
    from bgpd.config import schema
    from reflector import discovery

    for module in (calico_node, schema, discovery):
        assert module.protocol_id is protocol_id
    assert calico_node.greater_address_is_passive is greater_address_is_passive
    assert schema.greater_address_is_passive is greater_address_is_passive
