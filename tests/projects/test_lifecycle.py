"""The lifecycle table: every rule, and a state machine that random requests never break."""

import datetime as dt

import pytest
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from investmap.projects import lifecycle as lc

D = dt.date
TODAY = D(2025, 6, 30)


def test_paths_skip_land_for_existing_space_and_offices():
    assert lc.path("new_land") == lc.PATH
    assert lc.path("expansion") == lc.PATH
    for category in ("stock_space", "hq_rd"):
        assert "land_obtained" not in lc.path(category)
        assert lc.kind_of("registered", "land_obtained", category) is None
        assert lc.kind_of("registered", "construction", category) == lc.ADVANCE


def test_table_rows():
    assert lc.kind_of("lead", "negotiating", "new_land") == lc.ADVANCE
    assert lc.kind_of("lead", "production", "new_land") == lc.ADVANCE  # jump, with every date
    assert lc.kind_of("signed", "negotiating", "new_land") is None  # never backwards
    assert lc.kind_of("production", "on_hold", "new_land") is None  # production is final
    assert lc.kind_of("production", "dropped", "new_land") is None
    assert lc.kind_of("signed", "on_hold", "new_land") == lc.HOLD
    assert lc.kind_of("on_hold", "signed", "new_land", held_from="signed") == lc.RESUME
    assert lc.kind_of("on_hold", "registered", "new_land", held_from="signed") is None
    assert lc.kind_of("on_hold", "dropped", "new_land", held_from="signed") == lc.DROP
    assert lc.kind_of("dropped", "lead", "new_land") is None
    assert lc.allowed_targets("dropped", "new_land") == []
    assert lc.allowed_targets("on_hold", "new_land", "lead") == ["lead", "dropped"]


def plan(current, to, recorded=None, given=None, category="new_land", **kw):
    return lc.plan(
        current=current,
        to=to,
        category=category,
        recorded=recorded or {},
        given=given,
        today=kw.pop("today", TODAY),
        **kw,
    )


def test_advance_needs_every_milestone_on_the_path_in_order():
    move = plan("lead", "signed", given={"negotiating": D(2025, 1, 5), "signed": D(2025, 2, 1)})
    assert move.kind == lc.ADVANCE and move.milestones == {
        "negotiating": D(2025, 1, 5),
        "signed": D(2025, 2, 1),
    }
    with pytest.raises(lc.Refused) as exc:
        plan("lead", "registered", given={"signed": D(2025, 2, 1)})
    assert set(exc.value.errors) == {"milestones.negotiating", "milestones.registered"}
    with pytest.raises(lc.Refused) as exc:
        plan(
            "lead",
            "signed",
            given={"negotiating": D(2025, 3, 1), "signed": D(2025, 2, 1)},
        )
    assert set(exc.value.errors) == {"milestones.signed"}  # before 洽谈
    with pytest.raises(lc.Refused) as exc:
        plan("lead", "negotiating", given={"negotiating": D(2025, 7, 1)})
    assert set(exc.value.errors) == {"milestones.negotiating"}  # in the future
    # Same day is fine (non-decreasing), recorded dates are used, a date of today is fine.
    move = plan(
        "negotiating",
        "registered",
        recorded={"negotiating": D(2025, 1, 1)},
        given={"signed": D(2025, 1, 1), "registered": TODAY},
    )
    assert move.milestones["registered"] == TODAY


def test_given_dates_must_be_on_the_way_and_not_rewrite_recorded_ones():
    with pytest.raises(lc.Refused) as exc:
        plan("lead", "negotiating", given={"negotiating": D(2025, 1, 1), "signed": D(2025, 1, 2)})
    assert set(exc.value.errors) == {"milestones.signed"}
    with pytest.raises(lc.Refused) as exc:
        plan(
            "negotiating",
            "signed",
            recorded={"negotiating": D(2025, 1, 1)},
            given={"negotiating": D(2025, 1, 3), "signed": D(2025, 2, 1)},
        )
    assert set(exc.value.errors) == {"milestones.negotiating"}
    # The same date again is accepted.
    plan(
        "negotiating",
        "signed",
        recorded={"negotiating": D(2025, 1, 1)},
        given={"negotiating": D(2025, 1, 1), "signed": D(2025, 2, 1)},
    )


def test_stock_space_needs_no_land_date():
    dates = {
        "negotiating": D(2025, 1, 1),
        "signed": D(2025, 1, 2),
        "registered": D(2025, 1, 3),
        "construction": D(2025, 1, 4),
    }
    assert plan("lead", "construction", given=dates, category="stock_space").to == "construction"
    with pytest.raises(lc.Refused):
        plan("lead", "construction", given=dates, category="new_land")


def test_drop_needs_a_reason_hold_and_resume_take_no_dates():
    with pytest.raises(lc.Refused) as exc:
        plan("signed", "dropped", reason="  ")
    assert set(exc.value.errors) == {"reason"}
    assert plan("signed", "dropped", reason="投资方撤资").kind == lc.DROP
    assert plan("signed", "on_hold").kind == lc.HOLD
    with pytest.raises(lc.Refused) as exc:
        plan("signed", "on_hold", given={"signed": D(2025, 1, 1)})
    assert set(exc.value.errors) == {"milestones"}
    assert plan("on_hold", "signed", held_from="signed").kind == lc.RESUME


def test_out_of_order_detection_for_imported_data():
    assert lc.check_order("new_land", {"signed": D(2025, 3, 1), "registered": D(2025, 2, 1)}) == [
        "registered"
    ]
    assert lc.check_order("new_land", {"signed": D(2025, 3, 1), "registered": None}) == []


# --- the state machine ------------------------------------------------------------

days = st.integers(min_value=-400, max_value=40)


class Lifecycle(RuleBasedStateMachine):
    """Random requests (any target, random dates, with or without reasons) against the table.

    The model applies only what plan() accepts, the way services do; invariants check
    that no accepted sequence reaches an illegal state."""

    def __init__(self):
        super().__init__()
        self.category = "new_land"
        self.stage = "lead"
        self.held_from = None
        self.milestones: dict[str, dt.date] = {}
        self.today = TODAY
        self.history = ["lead"]

    @rule(category=st.sampled_from(["new_land", "stock_space", "expansion", "hq_rd"]))
    def start_over(self, category):
        self.__init__()
        self.category = category

    @rule(
        to=st.sampled_from(lc.STAGES + ("unknown",)),
        offsets=st.dictionaries(st.sampled_from(list(lc.MILESTONES)), days, max_size=8),
        reason=st.sampled_from(["", "  ", "投资方撤资"]),
        advance_days=st.integers(min_value=0, max_value=30),
    )
    def request(self, to, offsets, reason, advance_days):
        self.today += dt.timedelta(days=advance_days)
        given = {s: self.today + dt.timedelta(days=o) for s, o in offsets.items()}
        try:
            move = lc.plan(
                current=self.stage,
                to=to,
                category=self.category,
                recorded=dict(self.milestones),
                given=given,
                held_from=self.held_from,
                reason=reason,
                today=self.today,
            )
        except lc.Refused as exc:
            assert exc.errors  # a refusal always says why
            return
        if move.kind == lc.ADVANCE:
            self.milestones = dict(move.milestones)
            self.stage = move.to
        elif move.kind == lc.HOLD:
            self.held_from, self.stage = self.stage, lc.ON_HOLD
        elif move.kind == lc.RESUME:
            self.stage, self.held_from = self.held_from, None
        else:
            assert reason.strip()
            self.stage, self.held_from = lc.DROPPED, None
        self.history.append(self.stage)

    @invariant()
    def state_is_legal(self):
        assert self.stage in lc.STAGES
        path = lc.path(self.category)
        if self.stage == lc.ON_HOLD:
            assert self.held_from in lc.ACTIVE and self.held_from in path
        else:
            assert self.held_from is None
        if self.stage in path:
            needed = lc.milestone_stages(self.category, self.stage)
            assert all(self.milestones.get(s) for s in needed)
        # Recorded milestones are in order, never in the future, only on the path.
        assert lc.check_order(self.category, self.milestones) == []
        assert all(d <= self.today for d in self.milestones.values())
        assert set(self.milestones) <= set(path)
        # Once dropped, nothing moves; production is never left.
        if lc.DROPPED in self.history:
            assert self.history[self.history.index(lc.DROPPED) :] == [lc.DROPPED] * len(
                self.history[self.history.index(lc.DROPPED) :]
            )
        if "production" in self.history:
            i = self.history.index("production")
            assert set(self.history[i:]) == {"production"}
        # Path stages are visited in order.
        visited = [s for s in self.history if s in path]
        assert visited == sorted(visited, key=path.index)


Lifecycle.TestCase.settings = hsettings(max_examples=200, stateful_step_count=30, deadline=None)
TestLifecycle = Lifecycle.TestCase
