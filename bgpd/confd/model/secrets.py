"""BGP passwords from Kubernetes Secrets: a `secretKeyRef` -> the plaintext, or why not.

Role: the Kubernetes source (and the etcd + Kubernetes composite) publishes each Secret a
BGPPeer or the BGPConfiguration names at `/kubernetes/secrets/<namespace>/<name>` as
`{"data": {key: base64}}`. `SecretPasswords.resolve` turns a `SecretRef` into a `Password`:
the decoded text, or the reason there is none.

Calico's client.go getPassword emits a peering with no password when the Secret cannot be
read; bgpd does not: a referenced Secret or key that is missing, unreadable or empty is an
unavailable password, and the peering is rendered with that reason instead (`password_unavailable`
in bgpd's config), which keeps the session down. A session without the MD5 key the operator
asked for would either never come up or, worse, come up unprotected.

Invariants: pure; a value that is not base64 or not UTF-8 text is a data problem naming its
key and never quoting the value; no message here ever holds a password.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from bgpd.confd.model.resources import SecretRef
from bgpd.confd.model.values import Problems, decode_json

__all__ = ["SECRETS_PREFIX", "Password", "SecretPasswords"]

SECRETS_PREFIX = "/kubernetes/secrets/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Password:
    """The plaintext (`text`), or None with `unavailable` saying why."""

    text: str | None = field(default=None, repr=False)
    unavailable: str | None = None


class SecretPasswords:
    """Resolves `SecretRef`s against the Secrets of one snapshot, each key decoded once."""

    __slots__ = ("_cache", "_namespace", "_problems", "_values")

    def __init__(self, values: Mapping[str, str], namespace: str, problems: Problems) -> None:
        self._values = values
        self._namespace = namespace
        self._problems = problems
        self._cache: dict[tuple[str, str], Password] = {}

    def resolve(self, ref: SecretRef | None) -> Password:
        """No ref: no password (and nothing unavailable)."""
        if ref is None:
            return Password()
        wanted = (ref.name, ref.key)
        found = self._cache.get(wanted)
        if found is None:
            found = self._cache[wanted] = self._read(ref)
        return found

    def _read(self, ref: SecretRef) -> Password:
        where = f"secret {self._namespace}/{ref.name}"
        key = f"{SECRETS_PREFIX}{self._namespace}/{ref.name}"
        raw = self._values.get(key)
        if raw is None:
            # The source publishes nothing for a Secret that is absent or forbidden (it logs
            # which), and nothing at all without a Kubernetes source.
            return Password(unavailable=f"{where} is missing or not readable")
        data = _data(key, raw, self._problems)
        if data is None:
            return Password(unavailable=f"{where} is malformed")
        encoded = data.get(ref.key)
        if encoded is None:
            return Password(unavailable=f"{where} has no key {ref.key}")
        if not isinstance(encoded, str):
            self._problems.add(key, f"data.{ref.key} is not a base64 string")
            return Password(unavailable=f"{where} key {ref.key} is malformed")
        try:
            text = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, ValueError):
            # UnicodeDecodeError is a ValueError. The value is never quoted: it is the password.
            self._problems.add(key, f"data.{ref.key} is not base64 of UTF-8 text")
            return Password(unavailable=f"{where} key {ref.key} is malformed")
        if not text:
            return Password(unavailable=f"{where} key {ref.key} is empty")
        return Password(text=text)


def _data(key: str, raw: str, problems: Problems) -> dict[str, object] | None:
    try:
        value = decode_json(raw)
    except ValueError:
        problems.add(key, "malformed JSON")  # the message could quote a password
        return None
    data = value.get("data") if isinstance(value, dict) else []
    if data is None:  # a Secret with no data at all has no key either
        data = {}
    if not isinstance(data, dict):
        problems.add(key, 'expected {"data": {key: base64}}')
        return None
    return data
