"""A session's `[[filter]]` import rules applied to what the peer announces, one batch at a time.

Role: the speaker hands each NLRI batch of an UPDATE (one shared `Candidate`: attribute set and
next hop) to `ImportFilter.split`, which answers with the batch cut into runs: the prefixes a
rule rejects (treated as withdrawn), the ones kept as announced, and the ones an accepting
rule's operations change (bgpd.policy.filter_ops), each run with the candidate the Loc-RIB must
hold for it. The evaluation is bgpd.policy.filter_eval's (first match wins, Calico's default on
import is accept).

Invariants:
- The route conditions (community, AS path, priority) are decided once per batch, not per
  prefix: they depend on the attribute set only. When the first rule left has no prefix
  condition, the whole batch goes to it without a look at any prefix.
- A changed route is built once per (candidate, rule) and kept (bounded, `max_size`): every
  prefix of a batch, and every later batch with the same shared candidate, gets the very same
  object, which is what the Loc-RIB's and the update groups' sharing and encoding caches work
  by. Build a new `ImportFilter` per session (the candidates carry its `Source`) and when its
  filters change.
"""

from __future__ import annotations

from collections.abc import Sequence

from bgpd.config.filter_section import FilterConfig
from bgpd.net import Afi, Family, Nlri
from bgpd.policy.filter_eval import CompiledRule, FilterChain, compile_filters, first_prefix_match
from bgpd.rib import Candidate, PathInfo

__all__ = ["MODIFIED_CACHE_SIZE", "ImportFilter", "ImportRun", "import_filter"]

Ids = Sequence[int] | None
# (the candidate for these prefixes, None when rejected; the prefixes; their path ids)
ImportRun = tuple[Candidate | None, Sequence[Nlri], Ids]

MODIFIED_CACHE_SIZE = 100_000


class ImportFilter:
    """One session's import rules per address family, and the routes their operations made."""

    __slots__ = ("_chains", "_max_size", "_modified")

    def __init__(
        self,
        filters: Sequence[FilterConfig],
        *,
        ibgp: bool,
        max_size: int = MODIFIED_CACHE_SIZE,
    ) -> None:
        names = [f.name for f in filters]
        self._chains = {
            Afi.IPV4: compile_filters(filters, names, export=False, version=4, ibgp=ibgp),
            Afi.IPV6: compile_filters(filters, names, export=False, version=6, ibgp=ibgp),
        }
        self._max_size = max_size
        # (id(candidate), id(rule)) -> (candidate, rule, the changed candidate): ids are only
        # compared while the entry holds both objects.
        self._modified: dict[tuple[int, int], tuple[Candidate, CompiledRule, Candidate]] = {}

    def applies(self, afi: Afi) -> bool:
        """False when the filters have no import rule for this family (nothing to do)."""
        return bool(self._chains[afi])

    def chain(self, afi: Afi) -> FilterChain:
        return self._chains[afi]

    def split(
        self, family: Family, prefixes: Sequence[Nlri], path_ids: Ids, candidate: Candidate
    ) -> list[ImportRun]:
        """The batch `prefixes` (with `path_ids`, parallel, under ADD-PATH) announced with
        `candidate`, as runs of prefixes sharing one outcome."""
        chain = self._chains[family.afi]
        rules = chain.for_route(candidate.info.attributes)
        if not rules:
            return [(candidate, prefixes, path_ids)]
        if not rules[0].per_prefix:
            return [(self._outcome(candidate, rules[0]), prefixes, path_ids)]
        by_rule: dict[int, tuple[CompiledRule | None, list[int]]] = {}
        start_of = chain.nlri_start
        for i, nlri in enumerate(prefixes):
            rule = first_prefix_match(rules, start_of(nlri), nlri[0], None, True)
            entry = by_rule.get(id(rule))
            if entry is None:
                by_rule[id(rule)] = (rule, [i])
            else:
                entry[1].append(i)
        runs: list[ImportRun] = []
        for rule, idx in by_rule.values():
            outcome = candidate if rule is None else self._outcome(candidate, rule)
            if len(idx) == len(prefixes):
                runs.append((outcome, prefixes, path_ids))
            else:
                ids = None if path_ids is None else [path_ids[i] for i in idx]
                runs.append((outcome, [prefixes[i] for i in idx], ids))
        return runs

    def _outcome(self, candidate: Candidate, rule: CompiledRule) -> Candidate | None:
        if not rule.accept:
            return None
        operations = rule.operations
        if operations is None:
            return candidate
        key = (id(candidate), id(rule))
        hit = self._modified.get(key)
        if hit is not None and hit[0] is candidate and hit[1] is rule:
            return hit[2]
        if len(self._modified) >= self._max_size:
            self._modified.clear()
        info = candidate.info
        changed = Candidate(
            source=candidate.source,
            info=PathInfo(attributes=operations.apply(info.attributes), next_hop=info.next_hop),
            path_id=candidate.path_id,
            stale=candidate.stale,
        )
        self._modified[key] = (candidate, rule, changed)
        return changed


def import_filter(filters: Sequence[FilterConfig], *, ibgp: bool) -> ImportFilter | None:
    """A session's import filter (`ibgp`: the peer's AS is ours), None without filters."""
    return ImportFilter(filters, ibgp=ibgp) if filters else None
