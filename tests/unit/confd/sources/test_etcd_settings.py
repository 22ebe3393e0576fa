"""EtcdSettings: calico-node's environment variables, endpoint parsing and validation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bgpd.confd.sources.etcd import (
    EtcdEndpoint,
    EtcdSettings,
    EtcdSettingsError,
    EtcdSource,
    prefix_range,
)


def test_defaults_when_nothing_is_set() -> None:
    s = EtcdSettings.from_env({})
    assert s.endpoints == ("http://127.0.0.1:2379",)
    assert s.parsed_endpoints() == (EtcdEndpoint(host="127.0.0.1", port=2379, tls=False),)
    assert (s.ca_cert, s.cert, s.key, s.username, s.password) == (None,) * 5
    assert s.prefixes == ("/calico/",)


def test_calico_node_variables() -> None:
    env = {
        "ETCD_ENDPOINTS": "https://10.0.0.1:2379, https://10.0.0.2:2379 ,https://[fd00::3]:2379",
        "ETCD_CA_CERT_FILE": "/calico-secrets/etcd-ca",
        "ETCD_CERT_FILE": "/calico-secrets/etcd-cert",
        "ETCD_KEY_FILE": "/calico-secrets/etcd-key",
        "ETCD_USERNAME": "calico",
        "ETCD_PASSWORD": "s3cret",
    }
    s = EtcdSettings.from_env(env)
    assert s.endpoints == (
        "https://10.0.0.1:2379",
        "https://10.0.0.2:2379",
        "https://[fd00::3]:2379",
    )
    assert [e.target for e in s.parsed_endpoints()] == [
        "10.0.0.1:2379",
        "10.0.0.2:2379",
        "[fd00::3]:2379",
    ]
    assert all(e.tls for e in s.parsed_endpoints())
    assert s.ca_cert == Path("/calico-secrets/etcd-ca")
    assert s.cert == Path("/calico-secrets/etcd-cert")
    assert s.key == Path("/calico-secrets/etcd-key")
    assert (s.username, s.password) == ("calico", "s3cret")
    assert "s3cret" not in repr(s)


def test_empty_values_count_as_unset_and_overrides_apply() -> None:
    s = EtcdSettings.from_env(
        {"ETCD_ENDPOINTS": "", "ETCD_CA_CERT_FILE": " ", "ETCD_USERNAME": ""},
        prefixes=("/calico/bgp/v1/",),
    )
    assert s.endpoints == ("http://127.0.0.1:2379",) and s.ca_cert is None
    assert s.prefixes == ("/calico/bgp/v1/",)


def test_older_scheme_and_authority_variables() -> None:
    s = EtcdSettings.from_env({"ETCD_SCHEME": "https", "ETCD_AUTHORITY": "etcd.local:4001"})
    assert s.parsed_endpoints() == (EtcdEndpoint(host="etcd.local", port=4001, tls=True),)


def test_endpoint_without_scheme_uses_tls_when_certificates_are_given() -> None:
    plain = EtcdSettings(endpoints=["10.0.0.1:2379"])
    assert plain.parsed_endpoints()[0].tls is False
    tls = EtcdSettings(endpoints=["10.0.0.1"], ca_cert=Path("/ca.pem"))
    assert tls.parsed_endpoints()[0] == EtcdEndpoint(host="10.0.0.1", port=2379, tls=True)
    assert tls.parsed_endpoints()[0].url == "https://10.0.0.1:2379"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"endpoints": []}, "no etcd endpoints"),
        ({"endpoints": ["ftp://x:1"]}, "scheme must be http or https"),
        ({"endpoints": ["http://x:notaport"]}, "endpoint"),
        ({"endpoints": ["http://x:2379/v2/keys"]}, "unexpected path"),
        ({"cert": Path("/c.pem")}, "needs its key"),
        ({"key": Path("/k.pem")}, "needs its key"),
        ({"username": "u"}, "needs both"),
        ({"password": "p"}, "needs both"),
        ({"prefixes": ()}, "no key prefixes"),
        ({"page_size": 0}, "page_size"),
        ({"dial_timeout": 0}, "dial_timeout"),
    ],
)
def test_invalid_settings(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(EtcdSettingsError, match=needle):
        EtcdSettings(**kwargs)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(EtcdSettingsError) as info:
        EtcdSettings(endpoints=["ftp://x"], username="u", cert=Path("/c"))
    text = str(info.value)
    assert "scheme" in text and "needs both" in text and "needs its key" in text


def test_prefixes_are_deduplicated_and_nested_ones_dropped() -> None:
    s = EtcdSettings(prefixes=["/calico/bgp/v1/", "/calico/", "/calico/", "/other/"])
    assert s.key_prefixes() == (b"/calico/", b"/other/")


def test_prefix_range() -> None:
    assert prefix_range(b"/calico/") == (b"/calico/", b"/calico0")
    assert prefix_range(b"a\xff") == (b"a\xff", b"b")
    assert prefix_range(b"\xff\xff") == (b"\xff\xff", b"\0")
    assert prefix_range(b"") == (b"\0", b"\0")


def test_a_new_source_reports_disconnected_and_does_not_connect_until_iterated() -> None:
    source = EtcdSource(EtcdSettings(endpoints=["http://127.0.0.1:1"]))
    status = source.status()
    assert (status.connected, status.revision, status.full_reads) == (False, 0, 0)
    assert status.last_error is None
    asyncio.run(source.close())


def test_both_sources_satisfy_the_source_protocol(tmp_path: Path) -> None:
    # Checked by mypy --strict on this file; at run time, the shared surface exists.
    from bgpd.confd.sources import FileSource, Source

    sources: list[Source] = [
        EtcdSource(EtcdSettings()),
        FileSource(tmp_path / "kv.yaml"),
    ]
    for source in sources:
        assert source.status().full_reads == 0
        asyncio.run(source.close())
