"""Weighted round robin, as a property: over any run of picks, the members eligible throughout
share them by weight (within one pick), whoever else comes and goes, and a member who was away
gains nothing while away (no catching up)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from followthrough.store.rotation import _choose
from followthrough.store.tables import TeamMember

WEIGHTS = st.lists(st.integers(1, 5), min_size=1, max_size=6)


def members(weights: list[int]) -> list[TeamMember]:
    return [TeamMember(team_id=1, user_id=i + 1, weight=w) for i, w in enumerate(weights)]


def run(team: list[TeamMember], rounds: list[frozenset[int]], state: dict[str, int] | None = None,
        ) -> tuple[list[int | None], dict[str, int]]:
    """Pick once per round, with the members of that round's set away."""
    credit: dict[str, int] = dict(state or {})
    chosen: list[int | None] = []
    for away in rounds:
        pick, credit = _choose(team, credit, lambda uid, away=away: "away" if uid in away else None)  # type: ignore[misc]
        chosen.append(pick.user_id)
    return chosen, credit


class TestFairness:
    @given(WEIGHTS, st.integers(1, 4))
    def test_exact_shares_over_whole_cycles(self, weights: list[int], cycles: int) -> None:
        total = sum(weights)
        chosen, credit = run(members(weights), [frozenset()] * (total * cycles))
        assert Counter(chosen) == {i + 1: w * cycles for i, w in enumerate(weights) if w}
        assert all(v == 0 for v in credit.values())  # a whole cycle leaves no debt

    @given(WEIGHTS, st.lists(st.sets(st.integers(1, 6)), min_size=1, max_size=60))
    def test_within_one_pick_of_the_weights_of_those_eligible(self, weights: list[int],
                                                              aways: list[set[int]]) -> None:
        team = members(weights)
        chosen, credit = run(team, [frozenset(a) for a in aways])
        # Credits stay bounded: nobody piles up a claim while others are away.
        assert all(abs(v) <= sum(weights) * len(weights) for v in credit.values())
        for pick, away in zip(chosen, aways, strict=True):
            assert pick is None if all(m.user_id in away for m in team) else pick not in away

    @given(st.integers(2, 6), st.integers(1, 50))
    def test_back_from_leave_is_not_flooded(self, size: int, absent_for: int) -> None:
        team = members([1] * size)
        _, credit = run(team, [frozenset({1})] * absent_for)
        after, _ = run(team, [frozenset()] * size, credit)
        assert Counter(after)[1] == 1  # one turn in the next cycle, like everyone else
