"""Template resources and one render pass: staged, checked, atomic, only when changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.render_pass import (
    Outcome,
    Renderer,
    ResourceError,
    expand_nodename,
    load_resources,
)
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import load_config

from .calico_data import V1, globals_, host

CONFDIR = DEFAULT_CONFDIR


def view(asn: str = "64512") -> dict[str, str]:
    out = globals_()
    out[f"{V1}/global/as_num"] = asn
    out.update(host("a", "10.0.0.1"))
    out.update(host("b", "10.0.0.2"))
    return out


def renderer(tmp_path: Path, confdir: Path = CONFDIR) -> Renderer:
    resources = load_resources(confdir, "a", dest_root=tmp_path)
    return Renderer(confdir, resources, TemplateContext(nodename="a", variables={"kernel": "0"}))


def test_nodename_expansion_and_dest_root(tmp_path: Path) -> None:
    assert expand_nodename("/ipam/v2/host//NODENAME/ipv4/block", "n1") == (
        "/ipam/v2/host/n1/ipv4/block"
    )
    (resource,) = load_resources(CONFDIR, "node-7", dest_root=tmp_path)
    assert resource.dest == tmp_path / "etc/bgpd/bgpd.toml"
    assert "/ipam/v2/host/node-7/ipv4/block" in resource.keys
    assert resource.mode == 0o600  # it holds the MD5 passwords


def test_install_is_atomic_and_only_when_changed(tmp_path: Path) -> None:
    r = renderer(tmp_path)
    (first,) = r.render_all(view())
    assert first.outcome is Outcome.INSTALLED
    dest = first.resource.dest
    assert load_config(dest).bgp.asn == 64512
    assert (dest.stat().st_mode & 0o777) == 0o600
    inode, mtime = dest.stat().st_ino, dest.stat().st_mtime_ns
    (again,) = r.render_all(view())
    assert again.outcome is Outcome.UNCHANGED
    assert (dest.stat().st_ino, dest.stat().st_mtime_ns) == (inode, mtime)  # not rewritten
    (changed,) = r.render_all(view(asn="65001"))
    assert changed.outcome is Outcome.INSTALLED
    assert dest.stat().st_ino != inode  # a new file renamed over the old one
    assert load_config(dest).bgp.asn == 65001
    assert sorted(p.name for p in dest.parent.iterdir()) == ["bgpd.toml"]  # no staged leftovers


def test_check_failure_keeps_the_old_file(tmp_path: Path) -> None:
    confdir = tmp_path / "confdir"
    shutil.copytree(CONFDIR, confdir)
    r = renderer(tmp_path / "root", confdir)
    (good,) = r.render_all(view())
    before = good.resource.dest.read_bytes()
    # A template bug producing a config bgpd refuses: the check names the config location.
    tpl = confdir / "templates" / "bgpd.toml.j2"
    tpl.write_text(tpl.read_text().replace('add_path = "both"', 'add_path = "sometimes"'))
    r = renderer(tmp_path / "root", confdir)
    (bad,) = r.render_all(view())
    assert bad.outcome is Outcome.CHECK_FAILED
    assert bad.error is not None and "bgp.add_path" in bad.error
    assert good.resource.dest.read_bytes() == before
    assert sorted(p.name for p in good.resource.dest.parent.iterdir()) == ["bgpd.toml"]


def test_data_error_names_the_full_key_and_installs_nothing(tmp_path: Path) -> None:
    r = renderer(tmp_path)
    (result,) = r.render_all(view(asn="sixty-four"))
    assert result.outcome is Outcome.RENDER_FAILED
    assert result.error == '/calico/bgp/v1/global/as_num: invalid AS number "sixty-four"'
    assert not result.resource.dest.exists()


def test_check_cmd_and_reload_cmd(tmp_path: Path) -> None:
    confdir = tmp_path / "confdir"
    shutil.copytree(CONFDIR, confdir)
    res = confdir / "conf.d" / "bgpd.toml"
    marker = tmp_path / "reloaded"
    res.write_text(
        res.read_text() + f'check_cmd = "grep -q asn {{{{.src}}}}"\nreload_cmd = "touch {marker}"\n'
    )
    r = renderer(tmp_path / "root", confdir)
    (ok,) = r.render_all(view())
    assert ok.outcome is Outcome.INSTALLED
    assert Renderer.run_reload_cmd(ok.resource) is None
    assert marker.exists()
    res.write_text(res.read_text().replace("grep -q asn", "grep -q no-such-text"))
    r = renderer(tmp_path / "root", confdir)
    (refused,) = r.render_all(view(asn="65001"))
    assert refused.outcome is Outcome.CHECK_FAILED
    assert refused.error is not None and refused.error.startswith("check_cmd exited 1")


def test_bad_resource_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "x.toml").write_text('[template]\nsrc = "x.j2"\nmode = "999"\n')
    with pytest.raises(ResourceError) as exc:
        load_resources(tmp_path, "a")
    assert "dest is required" in str(exc.value) and "not octal" in str(exc.value)
    os.unlink(tmp_path / "conf.d" / "x.toml")
    with pytest.raises(ResourceError, match="no template resources"):
        load_resources(tmp_path, "a")


def test_resource_file_problems_are_located(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    res = tmp_path / "conf.d" / "x.toml"
    res.write_text('[template]\nsrc = "x.j2"\n\tmode = "999"\n  keys = [3]\n')
    with pytest.raises(ResourceError) as exc:
        load_resources(tmp_path, "a")
    # in the file's order; a missing key at its table's header
    assert str(exc.value) == (
        f"{res}:1:1: template.dest: dest is required (a string); "
        f"{res}:3:2: template.mode: mode '999' is not octal; "
        f"{res}:4:3: template.keys: keys must be a list of strings"
    )
    res.write_text('[template]\nsrc = "x.j2"\ndest = \n')
    with pytest.raises(ResourceError) as exc:
        load_resources(tmp_path, "a")
    assert str(exc.value) == f"{res}:3:8: TOML syntax error: Invalid value"
    res.unlink()
    with pytest.raises(ResourceError, match="no template resources"):
        load_resources(tmp_path, "a")


# ---------------------------------------------------------------- issue 11: nothing escapes


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # A v1 peer's port: str.isdigit() accepts "²", int() then raised out of render_one.
        (
            f"{V1}/global/peer_v4/10.0.0.7",
            '{"ip": "10.0.0.7", "as_num": "65000", "port": "²"}',
            "invalid port '²'",
        ),
        (
            f"{V1}/global/peer_v4/10.0.0.7",
            '{"ip": "10.0.0.7", "as_num": "65000", "restart_time": "٣"}',
            "invalid restart_time '٣'",
        ),
        (f"{V1}/global/listen_port", "²", "invalid port '²'"),
        (f"{V1}/host/b/listen_port", "٣", "invalid port '٣'"),
        (f"{V1}/global/node_mesh_restart_time", "١٢", "invalid restart time"),
        (f"{V1}/global/as_num", "\uff16\uff14\uff15\uff11\uff12", "invalid AS number"),
        (f"{V1}/host/a/as_num", "1" * 5000, "out of range"),
        (f"{V1}/global/node_mesh", '{"enabled": "\\ud800"}', "lone UTF-16 surrogate"),
    ],
)
def test_unusable_numbers_and_strings_are_data_errors_naming_the_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    r = renderer(tmp_path)
    (result,) = r.render_all({**view(), key: value})
    assert result.outcome is Outcome.RENDER_FAILED
    assert result.error is not None and result.error.startswith(f"{key}: ")
    assert message in result.error
    assert not result.resource.dest.exists()


def test_a_lone_surrogate_from_the_environment_fails_the_render(tmp_path: Path) -> None:
    # os.environ holds undecodable bytes as lone surrogates (surrogateescape); the model never
    # sees --var or environment values, so the encoder is the last line.
    resources = load_resources(CONFDIR, "a", dest_root=tmp_path)
    ctx = TemplateContext(nodename="a", variables={"kernel": "0", "control_socket": "/x\udcff"})
    (result,) = Renderer(CONFDIR, resources, ctx).render_all(view())
    assert result.outcome is Outcome.RENDER_FAILED
    assert result.error is not None and "cannot encode" in result.error
    result.error.encode()
    assert not result.resource.dest.exists()


def test_an_unwritable_destination_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    r = renderer(tmp_path)
    (resource,) = r.resources
    resource.dest.parent.parent.mkdir(parents=True)
    resource.dest.parent.write_text("a file where the folder should be")
    (result,) = r.render_all(view())
    assert result.outcome is Outcome.RENDER_FAILED
    assert result.error == f"cannot install {resource.dest}: not a directory"


def test_the_config_with_passwords_is_never_readable_by_others(tmp_path: Path) -> None:
    confdir = tmp_path / "confdir"
    shutil.copytree(CONFDIR, confdir)
    res = confdir / "conf.d" / "bgpd.toml"
    shipped = res.read_text()
    # The staged file, as the check command sees it, already has the final owner-only mode.
    seen = tmp_path / "staged-mode"
    res.write_text(shipped + f'check_cmd = "stat -c %a {{{{.src}}}} > {seen}"\n')
    values = view()
    values[f"{V1}/global/peer_v4/10.0.0.7"] = (
        '{"ip": "10.0.0.7", "as_num": "65000", "password": "s3cret"}'
    )
    (result,) = renderer(tmp_path / "root", confdir).render_all(values)
    assert result.outcome is Outcome.INSTALLED
    assert "s3cret" in result.resource.dest.read_text()
    assert (result.resource.dest.stat().st_mode & 0o777) == 0o600
    assert seen.read_text().strip() == "600"
    # No mode given: owner-only too (confd's default, 0644, would not be).
    res.write_text(shipped.replace('mode = "0600"\n', ""))
    (again,) = load_resources(confdir, "a")
    assert again.mode == 0o600
    # A mode that lets every user read the passwords is refused up front.
    for mode in ("0644", "0604", "0666"):
        res.write_text(shipped.replace('mode = "0600"', f'mode = "{mode}"'))
        with pytest.raises(ResourceError, match="lets every user read the BGP passwords"):
            load_resources(confdir, "a")
    res.write_text(shipped.replace('mode = "0600"', 'mode = "0640"'))
    assert load_resources(confdir, "a")[0].mode == 0o640


def test_a_group_reads_the_config_through_a_setgid_folder(tmp_path: Path) -> None:
    """confd_templates/README.md: mode 0640 plus a setgid folder of the reading group."""
    confdir = tmp_path / "confdir"
    shutil.copytree(CONFDIR, confdir)
    res = confdir / "conf.d" / "bgpd.toml"
    res.write_text(res.read_text().replace('mode = "0600"', 'mode = "0640"'))
    r = renderer(tmp_path / "root", confdir)
    folder = r.resources[0].dest.parent
    folder.mkdir(parents=True)
    # A group other than ours: any as root, else one we belong to (a chown needs membership).
    others = [g for g in os.getgroups() if g != os.getegid()]
    group = 65534 if os.geteuid() == 0 else (others or [os.getegid()])[0]
    os.chown(folder, -1, group)
    folder.chmod(0o2755)
    (result,) = r.render_all(view())
    assert result.outcome is Outcome.INSTALLED
    st = result.resource.dest.stat()
    assert (st.st_mode & 0o777, st.st_gid) == (0o640, group)
