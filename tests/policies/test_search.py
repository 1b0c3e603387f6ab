"""Policy search (SPEC S2, ADR 0009): ranking, typos, Latin terms, filters, validity, paging."""

import datetime as dt
import html
from types import SimpleNamespace

import pytest

from investmap.policies import search as S
from investmap.policies.models import Policy
from investmap.resources.services import InvalidFilter

TODAY = dt.date(2026, 6, 15)
FILLER = "本办法由区财政局负责解释，自发布之日起施行。申报材料经审核、公示后兑现资金。" * 8


def make(code, title, text=FILLER, interpretation="", **kw):
    kw.setdefault("level", "district")
    kw.setdefault("policy_type", "basic")
    return Policy.objects.create(
        code=code, title=title, text=text, interpretation=interpretation, **kw
    )


def codes(result):
    return [item["code"] for item in result["items"]]


def run(q="", filters=None, **kw):
    return S.search(q=q, filters=filters or {}, as_of=kw.pop("as_of", TODAY), **kw)


# --- validity ---------------------------------------------------------------------


def _p(valid_from=None, valid_to=None):
    return SimpleNamespace(valid_from=valid_from, valid_to=valid_to)


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "expected"),
    [
        (None, None, "in_force"),
        (TODAY, None, "in_force"),  # first day counts
        (TODAY + dt.timedelta(days=1), None, "not_yet"),
        (None, TODAY, "expiring"),  # last day: still in force, and expiring
        (None, TODAY - dt.timedelta(days=1), "expired"),
        (None, TODAY + dt.timedelta(days=30), "expiring"),
        (None, TODAY + dt.timedelta(days=31), "in_force"),
        (TODAY - dt.timedelta(days=400), TODAY - dt.timedelta(days=10), "expired"),
    ],
)
def test_validity_boundaries(valid_from, valid_to, expected):
    assert S.validity(_p(valid_from, valid_to), TODAY) == expected


# --- normalisation and terms ---------------------------------------------------------


def test_normalize_keeps_positions_and_folds_width_and_case():
    text = "Ｒ＆Ｄ投入，\n２０２５年𠮷"
    norm = S.normalize(text)
    assert len(norm) == len(text)
    assert norm == "r&d投入, 2025年\ufffd"


def test_query_segments():
    segs = S.segments("高新技术 R&D投入 2025年")
    assert [(s.kind, s.text) for s in segs] == [
        ("cjk", "高新技术"),
        ("word", "r&d"),
        ("cjk", "投入"),
        ("word", "2025"),
        ("cjk", "年"),
    ]
    assert [t.text for t in segs[0].terms()] == ["高新", "新技", "技术"]


# --- ranking ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_title_hit_beats_text_hit_and_unrelated_policies_stay_out():
    # Same title and text lengths, same date; on equal scores code "A-TEXT" would come
    # first, so only the field weights put the title hit first.
    make("A-TEXT", "科技创新补助办法", text=FILLER[:-3] + "孵化器")
    make("B-TITLE", "孵化器建设补助办法"[:8], text=FILLER)
    make("C-OTHER", "人才公寓租金补贴", text=FILLER)
    result = run("孵化器")
    assert codes(result) == ["B-TITLE", "A-TEXT"]
    assert result["count"] == 2
    first, second = result["items"]
    assert first["score"] > second["score"] > 0


@pytest.mark.django_db
def test_interpretation_weighs_more_than_text():
    make(
        "A-TEXT",
        "扶持办法甲",
        text=FILLER[:-4] + "众创空间",
        interpretation="本政策重点支持孵化载体。",
    )
    make("B-INTERP", "扶持办法乙", text=FILLER, interpretation="本政策重点支持众创空间。")
    assert codes(run("众创空间")) == ["B-INTERP", "A-TEXT"]


@pytest.fixture
def library(db):
    make(
        "HIGH-TECH",
        "高新技术企业认定奖励办法",
        text=FILLER + "对首次通过高新技术企业认定的企业给予奖励。" + FILLER,
        interpretation="首次认定的高新技术企业可获一次性奖励。",
        tags=["rd", "fiscal"],
        published_on=dt.date(2026, 3, 1),
    )
    make(
        "TALENT",
        "高层次人才引进办法",
        text=FILLER + "企业高薪聘请高层次人才，技术骨干年薪超过五十万元的，按高薪人才给予补贴。"
        "企业引进技术人才，企业给予配套。" + FILLER,
        tags=["talent"],
        published_on=dt.date(2026, 4, 1),
    )
    make(
        "SME",
        "科技型中小企业研发补助",
        text=FILLER + "科技型中小企业研发投入补助，企业技术改造另行支持。" + FILLER,
        tags=["rd"],
        published_on=dt.date(2026, 2, 1),
    )
    make(
        "INCUBATOR",
        "孵化器和众创空间建设补助",
        text=FILLER + "新认定的国家级孵化器给予奖励。" + FILLER,
        tags=["space"],
        published_on=None,
    )


@pytest.mark.django_db
def test_exact_phrase_ranks_its_policy_first(library):
    assert codes(run("高新技术企业"))[0] == "HIGH-TECH"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("高薪技术企业", "HIGH-TECH"),  # 薪 for 新: two of five bigrams broken
        ("高新技木企业", "HIGH-TECH"),  # 木 for 术
        ("高新技术企", "HIGH-TECH"),  # a character short
        ("高新技术性企业", "HIGH-TECH"),  # a character too many
        ("浮化器", "INCUBATOR"),  # 浮 for 孵: only one bigram left
    ],
)
def test_one_wrong_character_still_finds_the_policy_first(library, typo, expected):
    assert codes(run(typo))[0] == expected


@pytest.mark.django_db
def test_a_typo_does_not_bring_in_policies_sharing_only_common_bigrams(library):
    found = codes(run("高薪技术企业"))
    assert found[0] == "HIGH-TECH"
    assert "SME" not in found and "INCUBATOR" not in found  # they hold only 技术, 企业


@pytest.mark.django_db
def test_typo_highlight_marks_the_phrase_as_written_in_the_policy(library):
    item = run("高薪技术企业")["items"][0]
    assert item["code"] == "HIGH-TECH"
    assert item["highlights"]["title"] == "<mark>高新技术企业</mark>认定奖励办法"
    assert "<mark>高新技术企业</mark>" in item["highlights"]["text"]


@pytest.mark.django_db
def test_a_query_sharing_only_common_bigrams_does_not_match(library):
    # "技术" and "企业" are everywhere; without the rest of the phrase nothing qualifies.
    assert run("低碳技术示范企业")["count"] == 0


@pytest.mark.django_db
def test_latin_and_digit_terms():
    make("RD", "研发投入奖励", text=FILLER + "企业R&D投入强度达到3%的，给予奖励。")
    make("WIDE", "研发费用加计扣除", text=FILLER + "按Ｒ＆Ｄ经费的一定比例给予补助。")
    make("YEAR", "2025年度技术改造项目补助", text=FILLER + "2025年1月1日起施行。")
    make("NUMBER", "文件汇编", text=FILLER + "文号120250，R和D分别计算。")
    assert set(codes(run("R&D"))) == {"RD", "WIDE"}
    assert set(codes(run("r&d"))) == {"RD", "WIDE"}
    assert codes(run("2025")) == ["YEAR"]  # not inside "120250"
    assert codes(run("２０２５")) == ["YEAR"]
    assert run("2025")["items"][0]["highlights"]["title"] == "<mark>2025</mark>年度技术改造项目补助"


@pytest.mark.django_db
def test_mixed_query_prefers_the_policy_holding_both_parts():
    make("BOTH", "研发投入奖励", text=FILLER + "2025年企业研发投入增长的，给予奖励。")
    make("ONE", "研发平台建设", text=FILLER + "支持企业建设研发平台。")
    result = run("研发投入 2025")
    assert codes(result)[0] == "BOTH"


# --- empty query, shape, escaping, paging ------------------------------------------------------


@pytest.mark.django_db
def test_empty_query_lists_newest_first_without_scores(library):
    result = run("")
    assert codes(result) == ["TALENT", "HIGH-TECH", "SME", "INCUBATOR"]  # undated last
    assert {item["score"] for item in result["items"]} == {None}
    assert run("  ，。！  ")["count"] == 4  # nothing searchable: same as empty


@pytest.mark.django_db
def test_item_shape():
    make(
        "SHAPE",
        "孵化器建设补助",
        level="municipal",
        policy_type="industry",
        issuer="市科技局",
        valid_from=dt.date(2026, 1, 1),
        valid_to=TODAY + dt.timedelta(days=10),
        tags=["space"],
    )
    (item,) = run("孵化器")["items"]
    assert set(item) == {
        "code",
        "title",
        "level",
        "type",
        "issuer",
        "valid_from",
        "valid_to",
        "validity",
        "tags",
        "score",
        "highlights",
    }
    assert item["level"] == "municipal" and item["type"] == "industry"
    assert item["valid_from"] == "2026-01-01" and item["valid_to"] == "2026-06-25"
    assert item["validity"] == "expiring"
    assert item["tags"] == ["space"]
    assert isinstance(item["score"], float)


@pytest.mark.django_db
def test_highlights_are_html_escaped():
    make(
        "XSS",
        '关于<script>alert("孵化器")</script>的通知',
        text=FILLER + '孵化器 & 众创空间 <img src=x onerror="x">' + FILLER,
    )
    (item,) = run("孵化器")["items"]
    title = item["highlights"]["title"]
    assert "<script>" not in title and "&lt;script&gt;" in title
    assert "<mark>孵化器</mark>" in title
    text = item["highlights"]["text"]
    assert "<img" not in text and "&lt;img" in text and "&amp;" in text
    assert "<mark>孵化器</mark>" in text
    assert text.startswith("…") and text.endswith("…")
    shown = html.unescape(text.replace("<mark>", "").replace("</mark>", ""))
    assert len(shown) <= S.SNIPPET_CHARS + 2  # the two ellipses


@pytest.mark.django_db
def test_text_snippet_falls_back_to_the_interpretation():
    make("INTERP", "扶持办法", interpretation="重点支持众创空间建设。")
    (item,) = run("众创空间")["items"]
    assert item["highlights"]["text"] == "重点支持<mark>众创空间</mark>建设。"


@pytest.mark.django_db
def test_paging():
    for k in range(5):
        make(f"P{k}", f"孵化器补助第{k}号", published_on=dt.date(2026, 1, 1 + k))
    full = run("孵化器")
    assert full["count"] == 5
    page = run("孵化器", limit=2, offset=2)
    assert page["count"] == 5
    assert codes(page) == codes(full)[2:4]
    assert run("孵化器", limit=2, offset=10)["items"] == []
    listing = run("", limit=2, offset=1)
    assert codes(listing) == ["P3", "P2"]


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def varied(db):
    make("A", "甲", level="national", policy_type="basic", issuer="国家科技部", tags=["rd"])
    make(
        "B",
        "乙",
        level="municipal",
        policy_type="industry",
        issuer="市经信局",
        tags=["fiscal", "space"],
        industries=["C39"],
    )
    make(
        "C",
        "丙",
        level="district",
        policy_type="case_by_case",
        issuer="区科技局",
        tags=["talent"],
        industries=["I65", "C27"],
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tags": ["space"]}, {"B"}),
        ({"tags": "rd,talent"}, {"A", "C"}),  # any of
        ({"level": "municipal"}, {"B"}),
        ({"level": ["national", "district"]}, {"A", "C"}),
        ({"type": "case_by_case"}, {"C"}),
        ({"issuer": "科技"}, {"A", "C"}),
        ({"issuer": "区科技局"}, {"C"}),
        ({"industry": "C3911"}, {"A", "B"}),  # C39 covers it; A has no industries: all
        ({"industry": "c39"}, {"A", "B"}),
        ({"industry": "C"}, {"A", "B", "C"}),  # the prefix covers C39 and C27
        ({"industry": "I6510"}, {"A", "C"}),
        ({"industry": ["C3911", "I65"]}, {"A", "B", "C"}),
        ({"tags": "rd", "level": "district"}, set()),
        ({"level": "", "tags": [], "issuer": None}, {"A", "B", "C"}),  # empty = no filter
    ],
)
def test_filters(varied, filters, expected):
    assert set(codes(run("", filters))) == expected


@pytest.mark.django_db
def test_filters_combine_with_the_query():
    make("X", "孵化器补助", level="district", tags=["space"])
    make("Y", "孵化器奖励", level="municipal", tags=["space"])
    assert codes(run("孵化器", {"level": "municipal"})) == ["Y"]


@pytest.mark.django_db
def test_validity_filter():
    make("NOW", "甲", valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2027, 1, 1))
    make("SOON", "乙", valid_to=TODAY + dt.timedelta(days=30))
    make("LAST-DAY", "丙", valid_to=TODAY)
    make("OLD", "丁", valid_to=TODAY - dt.timedelta(days=1))
    make("LATER", "戊", valid_from=TODAY + dt.timedelta(days=1))
    make("OPEN", "己")
    by_state = {item["code"]: item["validity"] for item in run("")["items"]}
    assert by_state == {
        "NOW": "in_force",
        "SOON": "expiring",
        "LAST-DAY": "expiring",
        "OLD": "expired",
        "LATER": "not_yet",
        "OPEN": "in_force",
    }
    # "in force" includes those expiring: they are still in force
    assert set(codes(run("", {"validity": "in_force"}))) == {"NOW", "SOON", "LAST-DAY", "OPEN"}
    assert set(codes(run("", {"validity": "expiring"}))) == {"SOON", "LAST-DAY"}
    assert set(codes(run("", {"validity": "expired"}))) == {"OLD"}
    assert set(codes(run("", {"validity": "not_yet"}))) == {"LATER"}
    # the same library a day later
    later = run("", {"validity": "expired"}, as_of=TODAY + dt.timedelta(days=1))
    assert set(codes(later)) == {"OLD", "LAST-DAY"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "mentions"),
    [
        ({"filters": {"level": "city"}}, "level", ["city", "national", "municipal", "district"]),
        ({"filters": {"type": "basic,special"}}, "type", ["special", "case_by_case"]),
        ({"filters": {"validity": "soon"}}, "validity", ["soon", "in_force", "not_yet"]),
        ({"filters": {"tags": ["rd", "unicorn"]}}, "tags", ["unicorn", "talent"]),
        ({"filters": {"industry": "39X"}}, "industry", ["39X", "C3911"]),
        ({"filters": {"colour": "red"}}, "colour", ["tags", "validity"]),
        ({"filters": {"issuer": ["a", "b"]}}, "issuer", []),
        ({"limit": 0}, "limit", ["1", str(S.MAX_LIMIT)]),
        ({"limit": "many"}, "limit", []),
        ({"offset": -1}, "offset", ["0"]),
        ({"q": "孵" * (S.MAX_QUERY_CHARS + 1)}, "q", [str(S.MAX_QUERY_CHARS)]),
        ({"as_of": "2026-13-01"}, "as_of", ["YYYY-MM-DD"]),
    ],
)
def test_bad_parameters_name_the_field_and_what_is_accepted(kwargs, field, mentions):
    make("A", "孵化器")
    args = {"q": "", "filters": {}, "as_of": TODAY} | kwargs
    with pytest.raises(InvalidFilter) as caught:
        S.search(**args)
    assert list(caught.value.errors) == [field]
    message = caught.value.errors[field][0]
    for word in mentions:
        assert word in message


@pytest.mark.django_db
def test_a_tag_used_by_a_stored_policy_is_accepted():
    make("T", "甲", tags=["carbon"])
    assert codes(run("", {"tags": "carbon"})) == ["T"]


# --- the index --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reindex_writes_search_text_once():
    policy = make("R", "孵化器补助", issuer="区科技局")
    assert policy.search_text == ""
    assert S.reindex(policy) is True
    policy.refresh_from_db()
    assert policy.search_text.startswith(S.FORMAT + "\n")
    assert "孵化器补助" in policy.search_text and "区科技局" in policy.search_text
    assert S.reindex(policy) is False
    assert S.reindex_all() == 0


@pytest.mark.django_db
def test_search_follows_changes_of_the_library():
    policy = make("R", "孵化器补助")
    S.reindex(policy)
    assert codes(run("孵化器")) == ["R"]
    policy.title = "众创空间补助"
    policy.save()
    S.reindex(policy)
    assert codes(run("孵化器")) == []
    assert codes(run("众创空间")) == ["R"]
    other = make("S", "众创空间奖励")  # not reindexed: indexed from its fields
    assert set(codes(run("众创空间"))) == {"R", "S"}
    other.delete()
    assert codes(run("众创空间")) == ["R"]


@pytest.mark.django_db
def test_a_listing_without_query_does_not_load_the_texts(library):
    run("", {"tags": "rd"})
    assert S._library is not None and S._library._fields is None
    run("孵化器")
    assert S._library._fields is not None


@pytest.mark.django_db
def test_a_search_text_in_another_format_is_ignored():
    policy = make("R", "孵化器补助")
    Policy.objects.filter(pk=policy.pk).update(search_text="old format: 人才公寓")
    assert codes(run("孵化器")) == ["R"]
    assert codes(run("人才公寓")) == []
