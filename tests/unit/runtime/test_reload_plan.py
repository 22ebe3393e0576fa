"""plan_reload: the one diff of a reload, cut into what each part of the runtime applies.
A part the plan does not name is not touched (the kernel table is not re-planned for a peer
change, the listeners' MD5 keys are not rewritten for a timer change)."""

from __future__ import annotations

from bgpd.config import parse_config
from bgpd.runtime.reload import ReloadPlan, plan_reload
from tests.unit.config.helpers import build

B = {"name": '"Mesh_b"', "address": '"127.0.0.3"'}
NODE = '\n[node]\nname = "n"\nipv4 = "10.0.0.1/24"\n'
KERNEL = "\n[kernel]\nenabled = true\n"


def plan(old: str, new: str) -> ReloadPlan:
    return plan_reload(parse_config(old), parse_config(new))


def test_a_peer_added_touches_the_speaker_and_md5_keys_only() -> None:
    p = plan(build(extra=KERNEL), build(peers=[{}, B], extra=KERNEL))
    assert p.diff.peers_added == ("Mesh_b",)
    assert p.md5_keys
    assert not (p.kernel or p.listen or p.metrics or p.control_moves or p.log_level)


def test_the_kernel_is_replanned_only_when_its_inputs_change() -> None:
    base = build(extra=KERNEL + NODE)
    assert not plan(base, build(bgp={"hold_time": "30"}, extra=KERNEL + NODE)).kernel
    moved = build(extra=KERNEL + NODE.replace("10.0.0.1/24", "10.0.0.1/16"))
    assert plan(base, moved).kernel  # IPIP CrossSubnet compares next hops with this subnet
    tunnel = build(extra=KERNEL + 'tunnel_device = "tunl1"\n' + NODE)
    assert plan(base, tunnel).kernel


def test_kernel_enabled_flipping_is_ignored_out_loud_not_replanned() -> None:
    p = plan(build(extra=KERNEL), build())
    assert p.kernel_enable_ignored
    assert not p.kernel


def test_a_timer_change_leaves_the_md5_keys_alone() -> None:
    p = plan(build(peers=[B]), build(peers=[{**B, "description": '"rack 2"'}]))
    assert p.diff.settings_changed == ("Mesh_b",)
    assert not p.md5_keys


def test_a_password_change_rewrites_the_md5_keys() -> None:
    p = plan(build(peers=[B]), build(peers=[{**B, "password": '"s3cret"'}]))
    assert p.md5_keys


def test_listen_metrics_control_and_logs_are_their_own_slices() -> None:
    p = plan(build(), build(bgp={"listen": '["127.0.0.9"]', "log_level": '"debug"'}))
    assert p.listen and p.log_level
    assert not (p.metrics or p.control_moves or p.log_format)
    p = plan(build(), build(control={"socket": '"/tmp/other.ctl"'}))
    assert p.control_moves and not p.listen
    p = plan(
        build(metrics={"listen": '"127.0.0.1:9900"'}), build(metrics={"listen": '"127.0.0.1:9901"'})
    )
    assert p.metrics and p.metrics_moves
    p = plan(
        build(metrics={"listen": '"127.0.0.1:9900"'}),
        build(metrics={"listen": '"127.0.0.1:9900"', "ready_threshold": "5"}),
    )
    assert p.metrics and not p.metrics_moves


CALICO = "\n[calico]\nblocks = []\n"


def test_calico_kernel_and_priority_settings_reset_no_session() -> None:
    # Each of these re-plans the kernel (and the export policy where it reads them), and the
    # speaker re-announces its own routes; no peer is reset, added or removed.
    base = build(extra=NODE + CALICO + KERNEL)
    changes = {
        'compat = "3.31"': (True, True),
        'program_cluster_routes = "Enabled"': (True, True),
        "ipv4_normal_route_priority = 2000": (True, True),
        "ipv6_normal_route_priority = 2000": (True, True),
        'wireguard_peers = ["10.0.0.3"]': (True, False),
    }
    for line, (kernel, export) in changes.items():
        p = plan(base, build(extra=NODE + CALICO + line + "\n" + KERNEL))
        assert (p.kernel, p.diff.export_policy_changed) == (kernel, export), line
        d = p.diff
        assert not (d.session_changed or d.peers_added or d.peers_removed), line
        assert not (d.global_session_changed or d.policy_changed or p.md5_keys), line
    ignored = plan(base, build(extra=NODE + CALICO + KERNEL + 'ignored_interfaces = ["eth9"]\n'))
    assert ignored.kernel and not ignored.diff.session_changed and not ignored.md5_keys
