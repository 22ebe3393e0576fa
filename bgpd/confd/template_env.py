"""The jinja2 environment a confd template runs in, and the names it may call.

Role: `make_environment` builds the jinja2 `Environment` (strict undefined names, no
autoescape, the `toml` filter) and `template_globals` binds the names a template sees to one
render's `KvStore` and `TemplateContext`: confd's own functions (`getv`, `gets`, `getvs`,
`get`, `ls`, `lsdir`, `exists`, `json`, `jsonArray`, `base`, `dir`, `split`, `join`,
`replace`, `toUpper`, `toLower`, `contains`, `hasPrefix`, `hasSuffix`, `getenv`,
`hashToIPv4`, `base64Encode`, `base64Decode`), bgpd's `var`/`var_bool` for `--var`s, and
`calico` (a `CalicoNode`). As in confd there is no `datetime` helper on purpose: a timestamp
would make every render differ and every render reload.

Invariants:
- A name a template uses but the environment lacks is an error (`StrictUndefined`), never an
  empty string in the output.
- Every function is deterministic for a given store and context (no clock, no randomness),
  so an unchanged datastore renders byte-identical files.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from bgpd.confd.calico_node import CalicoNode, hash_to_ipv4
from bgpd.confd.template_inputs import DataError, KvStore, TemplateContext, json_array, json_value
from bgpd.config.toml_writer import toml_value

__all__ = ["make_environment", "template_globals"]


def template_globals(store: KvStore, ctx: TemplateContext) -> dict[str, Any]:
    """The names a template sees: confd's functions bound to `store`, and `calico`."""

    def getenv(name: str, default: str = "") -> str:
        return ctx.environ.get(name, default) or default

    def var(name: str, default: str = "") -> str:
        return ctx.variables.get(name, default)

    def var_bool(name: str, default: bool) -> bool:
        raw = ctx.variables.get(name)
        if raw is None:
            return default
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise DataError(f"--var {name}", f"expected true or false, not {raw!r}")

    functions: dict[str, Callable[..., Any]] = {
        "getv": store.getv,
        "get": store.get,
        "gets": store.gets,
        "getvs": store.getvs,
        "ls": store.ls,
        "lsdir": store.lsdir,
        "exists": store.exists,
        "json": json_value,
        "jsonArray": json_array,
        "base": posixpath.basename,
        "dir": posixpath.dirname,
        "split": lambda s, sep: s.split(sep),
        "join": lambda items, sep: sep.join(items),
        "replace": lambda s, old, new, n=-1: s.replace(old, new, n),
        "toUpper": str.upper,
        "toLower": str.lower,
        "contains": lambda s, sub: sub in s,
        "hasPrefix": str.startswith,
        "hasSuffix": str.endswith,
        "getenv": getenv,
        "hashToIPv4": hash_to_ipv4,
        "base64Encode": lambda s: base64.b64encode(s.encode()).decode(),
        "base64Decode": lambda s: base64.b64decode(s).decode(),
        "var": var,
        "var_bool": var_bool,
    }
    return {**functions, "calico": CalicoNode(store, ctx), "nodename": ctx.nodename}


def make_environment(template_dir: Path) -> jinja2.Environment:
    """A jinja2 environment for `template_dir`: strict about undefined names, no autoescape
    (the output is TOML, not HTML), trailing newlines kept, and the `toml` filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["toml"] = toml_value
    return env
