"""The Grafana dashboard (deploy/grafana/bgpd.json) against a real cluster and a real Prometheus.

A small Calico-shaped cluster on one bridged LAN of three network namespaces: node0 and node1
run `bgpd run --confd-backend etcd` (kernel sync on, metrics on the node's address), reading a
real etcd on the host's loopback through a relay; host 2 holds a raw BGP speaker (an external
peer of node0 that sends one malformed UPDATE, so RFC 7606 counters exist) and Debian's
Prometheus, scraping both nodes every second. A BGPPeer sets a field bgpd refuses, so the
refused-fields gauge exists; a block affinity added while running makes a render, a reload and
UPDATEs, so the rate and increase panels have something to show.

Then every query of the dashboard (every panel target and every template variable), with the
variables Grafana would fill in replaced by fixed values, goes through Prometheus's HTTP query
API and must return series carrying the labels its legend names. Non-empty alone would let a
misspelled metric hide behind an `or on() vector(0)` fallback, so the real guard is separate:
every metric name the dashboard (and the example alert rules) reference must be among the
names Prometheus scraped, and every label name it groups or matches by must exist.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request
from bgpd.wire.constants import MessageType
from tests.unit.confd.render.calico_v3 import affinity, bgp_configuration, bgp_peer, ip_pool, node

from .bgpd_proc import REPO
from .etcd_server import EtcdServer
from .kube_relay import LoopbackRelay
from .peers import Lan, LanHost, wait_until
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Namespace, Process
from .test_next_hop_sanity import RawSpeaker, message, update

DASHBOARD = REPO / "deploy" / "grafana" / "bgpd.json"
ALERT_RULES = REPO / "docs" / "alerts" / "bgpd-rules.yml"
PROMETHEUS = "/usr/bin/prometheus"
PROMETHEUS_PORT = 9090  # inside host 2's namespace: nothing else listens there
METRICS_PORT = 9091
RAW_ASN = 65002
DS_REF = {"type": "prometheus", "uid": "${datasource}"}

# What Grafana puts in place of its variables when the dashboard runs ("All" selected).
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$instance": ".*",
    "$peer": ".*",
}

# ------------------------------------------------------------------ reading the dashboard

_PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"and", "or", "unless", "inf", "nan"}
)
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_LABEL_IN_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    out: list[dict[str, Any]] = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query target of every panel."""
    return [(p["title"], t) for p in panels(dashboard) for t in p.get("targets", [])]


def variable_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """The query variables' `label_values(...)` queries, by variable name."""
    return {
        v["name"]: v["query"]["query"]
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    }


def substitute(expr: str) -> str:
    # Longest first: $__rate_interval before $__range, which is not a prefix of it anyway.
    for var in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(var, SUBSTITUTIONS[var])
    assert "$" not in expr, f"a variable this test does not know: {expr}"
    return expr


def label_values_query(query: str) -> tuple[str, str]:
    """`label_values(SELECTOR, LABEL)` as a PromQL query whose results carry LABEL."""
    m = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", query)
    assert m, f"not a label_values(selector, label) query: {query}"
    selector, label = m.groups()
    return f"count by ({label}) ({substitute(selector)})", label


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label names, label values or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and strings
    text = _MATCHERS.sub("", text)
    text = _CLAUSE.sub("", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group()
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        if text[: m.start()].endswith(tuple("0123456789.")):
            continue  # the exponent or unit of a number
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """Label names an expression groups, joins or matches by."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set()
    for _, inner in _CLAUSE.findall(text):
        names |= {n.strip() for n in inner.split(",") if n.strip()}
    for inner in _MATCHERS.findall(text):
        names |= set(_LABEL_IN_MATCHER.findall(inner))
    return names


def legend_labels(legend: str) -> set[str]:
    return set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend))


def alert_expressions(path: Path = ALERT_RULES) -> list[str]:
    rules = yaml.safe_load(path.read_text())
    return [str(r["expr"]) for g in rules["groups"] for r in g["rules"]]


def referenced_names(dashboard: dict[str, Any]) -> set[str]:
    exprs = [t["expr"] for _, t in targets(dashboard)]
    exprs += [label_values_query(q)[0] for q in variable_queries(dashboard).values()]
    return set().union(*(metric_names(substitute(e)) for e in exprs))


# ------------------------------------------------------------------ structure (no cluster)


def test_the_dashboard_is_well_formed_for_grafana() -> None:
    dash = load_dashboard()
    assert dash["schemaVersion"] >= 39 and dash["uid"] == "bgpd-overview" and dash["id"] is None
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "peer"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DS_REF
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    assert "$instance" in variables["peer"]["query"]["query"]  # peers of the chosen speakers

    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = [p["title"] for p in panels(dash)]
    assert len(titles) == len(set(titles)), "titles must be unique (this test finds panels by them)"
    occupied: set[tuple[int, int]] = set()
    for p in panels(dash):
        pos = p["gridPos"]
        assert {"x", "y", "w", "h"} <= set(pos), p["title"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, p["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & occupied, f"{p['title']} overlaps another panel"
        occupied |= cells
        if p["type"] == "row":
            continue
        assert p["datasource"] == DS_REF, p["title"]
        assert p["targets"] and p.get("description"), p["title"]
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS_REF, p["title"]
            assert 'instance=~"$instance"' in t["expr"], f"{p['title']}: not filtered by $instance"
            substitute(t["expr"])  # only variables the test (and Grafana) know

    rows = {p["title"] for p in panels(dash) if p["type"] == "row"}
    assert rows == {
        "Overview",
        "Peers",
        "Prefixes",
        "UPDATE messages",
        "Malformed and refused routes",
        "Kernel routes",
        "Config reloads",
        "confd and datastore",
        "Process",
    }


def test_the_name_reader_finds_names_and_skips_everything_else() -> None:
    expr = (
        'sum by (instance, peer) (rate(bgpd_peer_messages_received_total{instance=~".*", '
        'type="update"}[1m])) - on(instance) group_left() up or on() vector(0) > 1e3'
    )
    assert metric_names(expr) == {"bgpd_peer_messages_received_total", "up"}
    assert label_names(expr) == {"instance", "peer", "type"}
    assert legend_labels("{{instance}} {{ peer }} x") == {"instance", "peer"}


# ------------------------------------------------------------------ the cluster

V3_ASN = 64512
RAW_NAME = "raw"


class ClusterNode:
    """`bgpd run --confd-backend etcd` in a LAN host's namespace; stopped by PID."""

    def __init__(self, name: str, host: LanHost, etcd: EtcdServer, workdir: Path) -> None:
        self.name = name
        self.socket = str(workdir / f"{name}.ctl")
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(workdir / f"{name}.toml")]
        argv += ["--confd-backend", "etcd", "--debounce", "0.05"]
        for var, value in (
            ("control_socket", self.socket),
            ("bird_socket", workdir / f"{name}-bird.ctl"),
            ("bird6_socket", workdir / f"{name}-bird6.ctl"),
            ("metrics_listen", f"{host.ipv4}:{METRICS_PORT}"),
        ):
            argv += ["--var", f"{var}={value}"]
        env = {**os.environ, "NODENAME": name, **etcd.env()}
        self.proc: Process = host.ns.spawn(argv, name=name, log_dir=workdir, env=env, cwd=REPO)

    def ctl(self, command: str, **args: Any) -> Any:
        reply = call(self.socket, Request(command=command, args=args), timeout=2)
        if not reply.get("ok"):
            raise RuntimeError(f"{self.name}: {command}: {reply.get('error')}")
        return reply["data"]

    def established(self) -> set[str]:
        if not self.proc.running:
            raise AssertionError(f"{self.name} exited:\n{self.proc.output(20000)}")
        return {p["name"] for p in self.ctl("show peers") if p["state"] == "Established"}


class Prometheus:
    """Debian's Prometheus inside a namespace, scraping `targets` every second."""

    def __init__(self, ns: Namespace, targets: list[str], workdir: Path) -> None:
        self.ns = ns
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {"job_name": "bgpd", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )
        self.proc = ns.spawn(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            ],
            name="prometheus",
            log_dir=workdir,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with self.ns.entered():  # the socket is made in the namespace; only this thread moves
            reply = urllib.request.urlopen(url, timeout=10)
        with reply:
            data = json.load(reply)
        assert data["status"] == "success", data
        return data["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result series ({"metric": labels, "value": [t, v]})."""
        try:
            result = self.api("query", query=expr)
        except urllib.error.HTTPError as exc:  # a bad expression: say which and why
            raise AssertionError(f"{expr}: {exc.read().decode()}") from exc
        assert result["resultType"] in ("vector", "scalar"), (expr, result)
        return list(result["result"]) if result["resultType"] == "vector" else [result]

    def values(self, expr: str) -> list[float]:
        return [float(r["value"][1]) for r in self.query(expr)]


def datastore(lan: Lan, *, extra_block: bool = False) -> dict[str, str]:
    n0, n1, raw = lan.hosts
    items = {
        **bgp_configuration(asNumber=V3_ASN, nodeToNodeMeshEnabled=True),
        **node("node0", n0.ipv4_cidr),
        **node("node1", n1.ipv4_cidr),
        **ip_pool("pool", "10.244.0.0/16"),
        **affinity("node0", "10.244.0.0/26"),
        **affinity("node1", "10.244.1.0/26"),
        # node0's external peer.
        **bgp_peer(RAW_NAME, node="node0", peerIP=str(raw.ipv4), asNumber=RAW_ASN),
        # Peering with local workloads: like Calico's confd, bgpd does not give those peers a
        # keepaliveTime, and says so (counted by both nodes' watchers, not applied).
        **bgp_peer(
            "workloads", localWorkloadSelector="app == 'bird'", asNumber=65100, keepaliveTime="10s"
        ),
    }
    if extra_block:
        items |= affinity("node1", "10.244.2.0/26")
    return items


@pytest.fixture
def relay(etcd_server: EtcdServer) -> Iterator[LoopbackRelay]:
    with LoopbackRelay(etcd_server.port) as made:
        yield made


@pytest.fixture
def cluster_nodes(request: pytest.FixtureRequest) -> Iterator[list[ClusterNode]]:
    made: list[ClusterNode] = []
    request.node.stash.setdefault(DIAGNOSTICS, []).append(
        lambda: "\n".join(f"--- {n.name}\n{n.proc.output(20000)}" for n in made)
    )
    yield made
    for n in made:
        n.proc.stop(10)


def test_every_dashboard_query_answers_on_a_running_cluster(
    lan_factory: Callable[..., Lan],
    etcd_server: EtcdServer,
    relay: LoopbackRelay,
    cluster_nodes: list[ClusterNode],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    lan = lan_factory(3)
    n0, n1, raw_host = lan.hosts
    etcd_server.put_many(datastore(lan))
    for host in (n0, n1):
        relay.add(host.ns)
        cluster_nodes.append(ClusterNode(f"node{host.index}", host, etcd_server, tmp_path))
    node0, node1 = cluster_nodes
    mesh0, mesh1 = (f"Mesh_{h.ipv4}".replace(".", "_") for h in (n1, n0))
    wait_until(
        lambda: mesh0 in node0.established() and mesh1 in node1.established(),
        timeout=60,
        message="the mesh session Established",
        retry_on=(UnreachableError, FileNotFoundError),
    )

    prometheus = Prometheus(raw_host.ns, [f"{h.ipv4}:{METRICS_PORT}" for h in (n0, n1)], tmp_path)
    request.node.stash.setdefault(DIAGNOSTICS, []).append(lambda: prometheus.proc.output(20000))
    wait_until(
        lambda: prometheus.values('up{job="bgpd"}') == [1.0, 1.0],
        timeout=60,
        interval=0.5,
        message="Prometheus scraping both speakers",
        retry_on=(OSError,),
        describe=prometheus.proc.output,
    )

    # The external peer: a good route, then one with a malformed attribute (RFC 7606
    # attribute-discard), then End-of-RIB.
    raw = RawSpeaker(lan, raw_host.index, str(n0.ipv4))
    try:
        wait_until(
            lambda: any(p.startswith("Node_") for p in node0.established()),
            timeout=30,
            message="node0's external peer Established",
        )
        raw.send(update("10.55.1.0/24", str(raw_host.ipv4)))
        raw.send(update("10.55.4.0/24", str(raw_host.ipv4), bytes.fromhex("40060100")))
        raw.send(message(MessageType.UPDATE, b"\0\0\0\0"))  # End-of-RIB
        # A datastore change while running: node1 renders, reloads, announces a new block.
        etcd_server.put_many(datastore(lan, extra_block=True))

        for expr, what in (
            ('increase(bgpd_config_reloads_total{result="success"}[1m]) > 0', "a reload"),
            ('increase(bgpd_peer_messages_received_total{type="update"}[1m]) > 0', "UPDATEs"),
            ("increase(bgpd_peer_rfc7606_actions_total[1m]) > 0", "an RFC 7606 action"),
            ("bgpd_confd_unsupported_fields > 0", "a refused field"),
            ("bgpd_kernel_routes_installed > 1", "kernel routes"),
            ("increase(bgpd_confd_renders_total[1m]) > 0", "a confd render"),
        ):
            wait_until(
                functools.partial(prometheus.query, expr),
                timeout=60,
                interval=0.5,
                message=f"Prometheus seeing {what}: {expr}",
            )
        check_dashboard_against(prometheus)
    finally:
        raw.close()


def check_dashboard_against(prometheus: Prometheus) -> None:
    dash = load_dashboard()
    scraped = set(prometheus.api("label/__name__/values"))
    labels = set(prometheus.api("labels"))

    # The real guard: every name the dashboard reads is one bgpd exports.
    names = referenced_names(dash)
    assert {"bgpd_peer_up", "bgpd_peer_rfc7606_actions_total", "process_cpu_seconds_total"} <= names
    assert names <= scraped, f"not exported by bgpd: {sorted(names - scraped)}"
    # ... and it notices a misspelling that the `or on() vector(0)` fallback hides from the
    # non-empty check below.
    typo = "bgpd_confd_unsupported_field"
    broken = json.loads(json.dumps(dash).replace("bgpd_confd_unsupported_fields", typo))
    assert referenced_names(broken) - scraped == {typo}
    (hidden,) = (t for _, t in targets(broken) if typo in t["expr"])
    assert prometheus.query(substitute(hidden["expr"])), "the fallback answers anyway"
    # The example alert rules read the same names (and parse in this Prometheus).
    for expr in alert_expressions():
        assert metric_names(expr) <= scraped, expr
        prometheus.query(expr)

    empty: list[str] = []
    for title, target in targets(dash):
        expr = substitute(target["expr"])
        assert label_names(expr) <= labels, f"{title}: {sorted(label_names(expr) - labels)}"
        result = prometheus.query(expr)
        if not result:
            empty.append(f"{title} [{target['refId']}]: {expr}")
            continue
        wanted = legend_labels(target.get("legendFormat", ""))
        for one in result:
            missing = wanted - set(one["metric"])
            assert not missing, f"{title}: legend {missing} not in {one['metric']} ({expr})"
    assert not empty, "panels without data:\n" + "\n".join(empty)

    # A few panels show what this cluster did, with the dashboard's own expressions.
    def shown(title: str) -> list[tuple[dict[str, str], float]]:
        (target,) = (t for p, t in targets(dash) if p == title)
        result = prometheus.query(substitute(target["expr"]))
        return [(r["metric"], float(r["value"][1])) for r in result]

    assert any(
        m["action"] == "attribute-discard" and m["peer"].startswith("Node_") and v > 0
        for m, v in shown("RFC 7606 actions")
    )
    assert shown("Refused Calico fields in use") == [
        ({"kind": "BGPPeer", "field": "spec.keepaliveTime"}, 2.0)  # both nodes' watchers
    ]
    assert any(m["result"] == "success" and v > 0 for m, v in shown("Reloads"))
    assert {(m["datastore"], v) for m, v in shown("Datastore connected")} == {("etcd", 1.0)}
    assert shown("Peers Established") == [({}, 3.0)]
    assert shown("Peers not Established") == [({}, 0.0)]  # the fallback: none down

    for name, query in variable_queries(dash).items():
        expr, label = label_values_query(query)
        result = prometheus.query(expr)
        assert result and all(label in r["metric"] for r in result), (name, expr, result)
