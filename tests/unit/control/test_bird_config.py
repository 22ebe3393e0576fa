"""[control]'s BIRD-compatible sockets: Calico mode puts them where calico-node's BIRD had them."""

from __future__ import annotations

from bgpd.config import parse_config
from tests.unit.config.helpers import MINIMAL

CALICO = """\
[bgp]
asn = 64512

[node]
name = "node-a"
ipv4 = "172.18.0.2/16"

[calico]
"""


def test_calico_mode_defaults_to_calico_nodes_paths() -> None:
    control = parse_config(CALICO).control
    assert control.bird_socket == "/var/run/calico/bird.ctl"
    assert control.bird6_socket == "/var/run/calico/bird6.ctl"


def test_calico_mode_paths_can_be_moved() -> None:
    text = CALICO + '\n[control]\nbird_socket = "/run/x/bird.ctl"\n'
    control = parse_config(text).control
    assert control.bird_socket == "/run/x/bird.ctl"
    assert control.bird6_socket == "/var/run/calico/bird6.ctl"


def test_plain_mode_has_no_bird_sockets() -> None:
    control = parse_config(MINIMAL).control
    assert control.bird_socket is None and control.bird6_socket is None
