"""The reflector profile: defaults it adds, values it leaves alone, errors it reports."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from bgpd.config import ConfigError, ListenAddress, parse_config
from reflector.command import main
from reflector.profile import (
    DEFAULT_CONTROL_SOCKET,
    DEFAULT_METRICS_LISTEN,
    DEFAULT_RESTART_STATE_FILE,
    apply_profile,
    load_reflector_config,
    parse_reflector_config,
)

BASE = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
cluster_id = "224.0.0.1"
"""


def locations(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.location: p.message for p in exc.value.problems}


def test_defaults_of_the_profile() -> None:
    cfg = parse_reflector_config(BASE).config
    assert cfg.bgp.cluster_id == IPv4Address("224.0.0.1")
    assert cfg.kernel.enabled is False
    assert cfg.control.socket == DEFAULT_CONTROL_SOCKET
    host, port = DEFAULT_METRICS_LISTEN.rsplit(":", 1)
    assert cfg.metrics.listen == ListenAddress(host=host, port=int(port))
    # bgpd itself, on the same file, has no metrics endpoint and its own socket.
    assert cfg.bgp.restart_state_file == DEFAULT_RESTART_STATE_FILE
    plain = parse_config(BASE)
    assert plain.metrics.listen is None and plain.control.socket != DEFAULT_CONTROL_SOCKET
    assert plain.bgp.restart_state_file is None
    # The file's own setting wins.
    own = parse_reflector_config(BASE.replace("[bgp]", '[bgp]\nrestart_state_file = "/x/s"'))
    assert own.config.bgp.restart_state_file == "/x/s"


def test_kernel_stays_off_even_with_calico_data_unless_set() -> None:
    # bgpd turns kernel sync on when [calico] is present; the reflector does not.
    text = BASE + '\n[calico]\nblocks = ["10.244.1.0/26"]\n'
    assert parse_config(text).kernel.enabled is True
    assert parse_reflector_config(text).config.kernel.enabled is False
    on = parse_reflector_config(text + "\n[kernel]\nenabled = true\n").config
    assert on.kernel.enabled is True


def test_values_in_the_file_win() -> None:
    text = (
        BASE
        + '\n[control]\nsocket = "/tmp/rr.ctl"\n'
        + '\n[metrics]\nlisten = "[::1]:9999"\n'
        + '\n[kernel]\ntunnel_device = "tunl1"\n'
    )
    cfg = parse_reflector_config(text).config
    assert cfg.control.socket == "/tmp/rr.ctl"
    assert cfg.metrics.listen == ListenAddress(host="::1", port=9999)
    assert cfg.kernel.tunnel_device == "tunl1" and cfg.kernel.enabled is False


def test_cluster_id_is_required() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config(BASE.replace('cluster_id = "224.0.0.1"', ""))
    assert "a route reflector needs a cluster id" in locations(exc)["bgp.cluster_id"]


def test_cluster_id_from_node_and_node_gets_ours() -> None:
    text = BASE.replace('cluster_id = "224.0.0.1"', "") + (
        '\n[node]\nname = "rr1"\nipv4 = "10.0.0.1/24"\nrr_cluster_id = "224.0.0.9"\n'
    )
    assert parse_reflector_config(text).config.bgp.cluster_id == IPv4Address("224.0.0.9")
    # [node] without rr_cluster_id takes [bgp].cluster_id: no mesh on a reflector.
    text = BASE + '\n[node]\nname = "rr1"\nipv4 = "10.0.0.1/24"\n'
    text += '\n[[cluster_node]]\nname = "w1"\nipv4 = "10.0.0.7"\n'
    cfg = parse_reflector_config(text).config
    assert cfg.node is not None and cfg.node.rr_cluster_id == IPv4Address("224.0.0.1")
    assert cfg.mesh_peers == ()
    assert parse_config(text).mesh_peers != ()  # what bgpd would have done


def test_every_problem_reported_together() -> None:
    text = BASE.replace('cluster_id = "224.0.0.1"', "hold_time = 2") + (
        "\n[reflector]\nclients = \"role == 'x' &&\"\ncluster_peer = true\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config(text)
    found = locations(exc)
    assert set(found) == {
        "reflector.clients",
        "reflector.cluster_peer",
        "bgp.cluster_id",
        "bgp.hold_time",
    }
    assert "invalid selector" in found["reflector.clients"]
    assert 'did you mean "cluster_peers"' in found["reflector.cluster_peer"]


def test_bad_reflector_value_types() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config(BASE + "\n[reflector]\nclients = 3\ncluster_peers = 1\n")
    assert set(locations(exc)) == {"reflector.clients", "reflector.cluster_peers"}
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config('reflector = "all()"\n' + BASE)
    assert set(locations(exc)) == {"reflector"}


def test_apply_profile_does_not_modify_its_input() -> None:
    doc = {"bgp": {"asn": 1, "cluster_id": "1.1.1.1"}, "kernel": {"tunnel_device": "x"}}
    out, section, problems = apply_profile(doc)
    assert doc == {"bgp": {"asn": 1, "cluster_id": "1.1.1.1"}, "kernel": {"tunnel_device": "x"}}
    assert out["kernel"] == {"tunnel_device": "x", "enabled": False}
    assert problems == [] and section.clients is None and section.cluster_peers is True


def test_syntax_error_comes_alone(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[bgp\n")
    with pytest.raises(ConfigError) as exc:
        load_reflector_config(path)
    (problem,) = exc.value.problems
    assert problem.location.startswith(str(path)) and "TOML syntax error" in problem.message


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.toml"
    path.write_text(BASE + '\n[[dynamic_neighbors]]\nprefix = "10.9.0.0/16"\n')
    assert main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok (cluster 224.0.0.1" in out and "1 dynamic ranges" in out
    path.write_text(BASE.replace("cluster_id", "#"))
    assert main(["check", "-c", str(path)]) == 1
    assert "bgp.cluster_id" in capsys.readouterr().err


def test_profile_problems_are_located_with_the_loaders() -> None:
    text = BASE + "\n[reflector]\nclients = 3\n\n[bgp_x]\n"
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config(text, source="rr.toml")
    lines = text.splitlines()
    assert [(p.location, p.at) for p in exc.value.problems] == [
        ("reflector.clients", f"rr.toml:{lines.index('clients = 3') + 1}:1"),
        ("bgp_x", f"rr.toml:{lines.index('[bgp_x]') + 1}:1"),
    ]
