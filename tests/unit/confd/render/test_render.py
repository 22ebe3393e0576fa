"""Template resources and one render pass: staged, checked, atomic, only when changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bgpd.confd.render import (
    Outcome,
    Renderer,
    ResourceError,
    expand_nodename,
    load_resources,
)
from bgpd.confd.templating import TemplateContext
from bgpd.config import load_config

from .calico_data import V1, globals_, host

REPO = Path(__file__).resolve().parents[4]
CONFDIR = REPO / "confd_templates"


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
    assert result.error == (
        "/calico/bgp/v1/global/as_num: invalid AS number 'sixty-four': not a whole number"
    )
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
