"""The policy document layer: reading files, validation with paths, the policies' own tests.

The semantics of conditions (each op, unknown facts, groups, validity) are tested with
the engine; here: what a file may hold, how problems are reported, and that every
shipped example is valid and passes its own cases.
"""

import builtins
import json
import os
from pathlib import Path

import pytest
from django.utils import translation

from investmap.policies import conditions as cond
from investmap.policies import document
from investmap.policies.document import (
    compile_document,
    digest_of,
    evaluate_pair,
    example_files,
    parse_document,
)

FILES = Path(__file__).resolve().parent / "files"
EXAMPLES = example_files()


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def parse(name: str):
    path = FILES / name
    return parse_document(content=path.read_bytes(), filename=path.name)


def parse_text(text: str, filename="inline.yaml"):
    return parse_document(content=text.encode("utf-8"), filename=filename)


def problems_at(parsed, policy, path):
    return [p for p in parsed.problems if p.policy == policy and p.path == path]


POLICY = """
- code: T-1
  title: 测试
  level: district
  type: basic
  issuer: 区经信局
  valid_from: 2025-01-01
  conditions:
    - {fact: revenue_wan, op: ge, value: 2000}
  benefit: {formula: "round(revenue_wan * 0.001, 1)", unit: 万元}
  tests:
    - {name: ok, facts: {revenue_wan: 3000}, expect: eligible, amount: 3}
"""


# --- the shipped examples --------------------------------------------------------------


def test_there_are_at_least_six_examples_in_several_files():
    assert len(EXAMPLES) >= 2
    count = sum(parse_document(content=p.read_bytes(), filename=p.name).count for p in EXAMPLES)
    assert count >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid_and_passes_its_own_cases(path):
    parsed = parse_document(content=path.read_bytes(), filename=path.name)
    assert parsed.problems == []
    assert len(parsed.policies) == parsed.count > 0
    for policy in parsed.policies:
        assert len(policy.cases) >= 3, policy.code
        # Each case really ran: re-check them one by one.
        for case in policy.cases:
            assert document.check_case(policy, case) == [], (policy.code, case.name)


def _nodes(node):
    yield node
    if isinstance(node, cond.Group):
        for part in node.parts:
            yield from _nodes(part)


def test_examples_cover_every_op_groups_formulas_and_outcomes():
    policies = [
        p
        for path in EXAMPLES
        for p in parse_document(content=path.read_bytes(), filename=path.name).policies
    ]
    nodes = [n for p in policies for c in p.conditions for n in _nodes(c)]
    ops = {n.op for n in nodes if isinstance(n, cond.Leaf)}
    assert ops == set(cond.OPS)
    groups = {n.kind for n in nodes if isinstance(n, cond.Group)}
    assert groups == {"any", "all"}
    # an `all` nested in an `any`
    assert any(
        isinstance(n, cond.Group) and any(isinstance(q, cond.Group) for q in n.parts) for n in nodes
    )
    assert "efficiency_grade" in {n.fact for n in nodes if isinstance(n, cond.Leaf)}
    formulas = " ".join(p.benefit.text for p in policies if p.benefit)
    for fn in ("min(", "max(", "round("):
        assert fn in formulas
    assert any(p.benefit is None for p in policies)
    assert all(p.manual_conditions for p in policies)
    cases = [c for p in policies for c in p.cases]
    assert {c.expect for c in cases} == {"eligible", "ineligible", "insufficient_data"}
    assert any(c.near_miss is True for c in cases)
    assert any(c.near_miss is False and c.expect == "ineligible" for c in cases)
    assert {p.level for p in policies} == {"national", "municipal", "district"}
    # sources or an explicit "illustrative" note on each
    for p in policies:
        assert p.source_url or "illustrative" in p.note.lower(), p.code


def test_example_codes_are_unique_across_files():
    codes = [
        p.code
        for path in EXAMPLES
        for p in parse_document(content=path.read_bytes(), filename=path.name).policies
    ]
    assert len(codes) == len(set(codes))


def test_a_changed_amount_in_an_example_makes_its_case_fail():
    path = FILES.parent.parent.parent / "src/investmap/policies/examples/rd-and-innovation.yaml"
    text = path.read_text(encoding="utf-8").replace("amount: 50  # 500", "amount: 51  # 500")
    parsed = parse_text(text, "rd.yaml")
    [problem] = parsed.problems
    assert (problem.code, problem.path) == ("KJ-2026-01", "tests[0]")
    assert "expected amount 51, got 50" in problem.message


# --- bad files ---------------------------------------------------------------------------


def test_broken_yaml_is_one_file_problem_with_its_line():
    parsed = parse("broken.yaml")
    [problem] = parsed.problems
    assert problem.policy is None and parsed.policies == []
    assert "not valid YAML at line 4" in problem.message


def test_broken_json_is_one_file_problem_with_its_line():
    [problem] = parse("broken.json").problems
    assert problem.policy is None
    assert "not valid JSON at line 2" in problem.message


def test_unknown_op_and_fact_are_reported_at_their_paths():
    parsed = parse("unknown-op.yaml")
    assert [p.code for p in parsed.policies] == ["T-OK"]
    assert parsed.invalid == {1}
    [op] = problems_at(parsed, 1, "conditions[1].any[0].op")
    assert op.code == "T-BAD-OP" and op.value == "between"
    assert "accepted: eq, ne, in, not_in, ge, le, gt, lt, starts_with_any, contains" in op.message
    [fact] = problems_at(parsed, 1, "conditions[1].any[1].fact")
    assert fact.value == "employeees" and "revenue_wan" in fact.message
    assert op.where() == "policies[1] (T-BAD-OP) conditions[1].any[0].op"
    assert op.line("unknown-op.yaml").startswith(
        'unknown-op.yaml policies[1] (T-BAD-OP) conditions[1].any[0].op, value "between": '
    )


def test_formulas_that_try_to_escape_into_python_are_refused(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a policy formula reached Python")

    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    parsed = parse("escaping-formulas.yaml")
    assert parsed.policies == [] and calls == []
    by_code = {p.code: p for p in parsed.problems}
    assert set(by_code) == {"T-ESC-IMPORT", "T-ESC-CLASS", "T-ESC-NAME", "T-ESC-ATTR"}
    assert all(p.path == "benefit.formula" for p in parsed.problems)
    assert by_code["T-ESC-IMPORT"].value.startswith("__import__(")
    assert "unknown name(s) __builtins__" in by_code["T-ESC-NAME"].message
    assert "unexpected character '.'" in by_code["T-ESC-ATTR"].message
    # what is accepted is said
    assert "min, max, round" in by_code["T-ESC-CLASS"].message
    assert not os.path.exists("/tmp/investmap-pwned")


def test_failing_case_refuses_the_policy_naming_the_case():
    parsed = parse("failing-test.yaml")
    assert parsed.policies == []
    assert [(p.path, p.value) for p in parsed.problems] == [
        ("tests[1]", "金额写错"),
        ("tests[2]", "结果写错"),
    ]
    amount, result = parsed.problems
    assert "expected amount 6, got 5" in amount.message
    assert "expected result eligible, got ineligible" in result.message
    assert "conditions[0] revenue_wan ge 2000" in result.message


def test_invalid_dates():
    parsed = parse("invalid-dates.yaml")
    assert parsed.policies == []
    assert problems_at(parsed, 0, "valid_from")[0].value == "2025-02-30"
    assert problems_at(parsed, 0, "published_on")[0].value == "yesterday"
    [order] = problems_at(parsed, 1, "valid_to")
    assert order.value == "2025-01-31" and "before valid_from 2025-06-01" in order.message
    assert problems_at(parsed, 2, "valid_from")[0].value == 20250101
    assert problems_at(parsed, 2, "valid_to")[0].value == "2025-12-31T00:00:00"
    assert all(
        "YYYY-MM-DD" in p.message for p in parsed.problems if p.path != "valid_to" or p.policy != 1
    )


def test_duplicate_codes_name_the_first():
    parsed = parse("duplicate-codes.yaml")
    [problem] = parsed.problems
    assert (problem.policy, problem.code, problem.path) == (2, "T-DUP", "code")
    assert "first at policies[0]" in problem.message
    assert [p.code for p in parsed.policies] == ["T-DUP", "T-OTHER"]


def test_duplicate_keys_in_a_mapping_are_refused():
    [problem] = parse("duplicate-keys.yaml").problems
    assert problem.policy is None
    assert "duplicate key 'value'" in problem.message and "line 11" in problem.message


def test_json_variant_errors():
    parsed = parse("bad.json")
    paths = {p.path: p for p in parsed.problems}
    assert set(paths) == {"level", "conditions[0].value", "tests[0].facts.industry_code"}
    assert "accepted: national, municipal, district" in paths["level"].message
    assert paths["tests[0].facts.industry_code"].value == 3841
    assert "quote codes" in paths["tests[0].facts.industry_code"].message


def test_json_and_yaml_spellings_are_the_same_documents():
    yaml_ = parse("good.yaml")
    json_ = parse("good.json")
    assert yaml_.problems == [] and json_.problems == []
    assert [p.digest for p in yaml_.policies] == [p.digest for p in json_.policies]
    assert yaml_.policies[0].document["valid_from"] == "2025-01-01"  # dates stay texts
    assert json.loads(document.canonical_json(yaml_.policies[1].document))["code"] == "T-GOOD-2"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("code: T-1\ntitle: x\n", "put this one policy in a list"),
        ("just a text\n", "must hold a list of policies"),
        ("[]\n", "holds no policies"),
        ("- &a {code: A}\n- *a\n", "anchors and aliases"),
    ],
)
def test_file_shapes_that_are_refused(text, needle):
    [problem] = parse_text(text).problems
    assert problem.policy is None and needle in problem.message


def test_other_extensions_and_encodings_are_refused():
    [ext] = parse_document(content=b"x", filename="policies.xlsx").problems
    assert ".yaml, .yml, .json" in ext.message
    [enc] = parse_document(content="- 名称".encode("gbk"), filename="p.yaml").problems
    assert "UTF-8" in enc.message


# --- keys and values ---------------------------------------------------------------------


def test_a_valid_policy_parses_to_its_fields():
    [p] = parse_text(POLICY).policies
    assert (p.code, p.level, p.policy_type, p.valid_to, p.tags) == (
        "T-1",
        "district",
        "basic",
        None,
        (),
    )
    assert p.valid_from.isoformat() == "2025-01-01"
    assert p.benefit.text == "round(revenue_wan * 0.001, 1)" and p.unit == "万元"
    assert p.head_fields()["valid_from"] == p.valid_from


def test_missing_required_keys_and_unknown_keys():
    text = "- {code: T-2, title: x, valid_unitl: 2025-01-01, x_contact: 张三}\n"
    parsed = parse_text(text)
    paths = {p.path for p in parsed.problems}
    assert {"level", "type", "issuer", "valid_from", "conditions", "tests", "valid_unitl"} <= paths
    assert "x_contact" not in paths
    [typo] = [p for p in parsed.problems if p.path == "valid_unitl"]
    assert "your own keys starting with x_" in typo.message


def test_extension_keys_are_kept_in_the_document():
    [p] = parse_text(POLICY + "  x_contact: 张三 0571-1234\n").policies
    assert p.document["x_contact"] == "张三 0571-1234"


@pytest.mark.parametrize(
    ("replace", "path", "needle"),
    [
        (("code: T-1", "code: 'T 1/x'"), "code", "letters, digits"),
        (("level: district", "level: province"), "level", "national, municipal, district"),
        (("type: basic", "type: special"), "type", "case_by_case"),
        (("issuer: 区经信局", "issuer: ''"), "issuer", "non-empty"),
        (
            ("valid_from: 2025-01-01", "valid_from: 2025-01-01\n  tags: [rd, money]"),
            "tags[1]",
            "space, facilities",
        ),
        (
            ("valid_from: 2025-01-01", "valid_from: 2025-01-01\n  industries: [38]"),
            "industries[0]",
            "in quotes",
        ),
        (
            ("valid_from: 2025-01-01", "valid_from: 2025-01-01\n  source_url: ftp://x"),
            "source_url",
            "http",
        ),
        (
            ("valid_from: 2025-01-01", "valid_from: 2025-01-01\n  manual_conditions: [ok, '']"),
            "manual_conditions[1]",
            "non-empty",
        ),
        (("unit: 万元", "unit: ''"), "benefit.unit", "non-empty"),
        (("unit: 万元}", "unit: 万元, rate: 3}"), "benefit.rate", "formula, unit, note"),
        (
            ('formula: "round(revenue_wan * 0.001, 1)"', 'formula: "land_area_mu * 2"'),
            "benefit.formula",
            "unknown name(s) land_area_mu",
        ),
        (("value: 2000}", "value: '2000'}"), "conditions[0].value", "must be a number"),
        (
            (
                "    - {fact: revenue_wan, op: ge, value: 2000}",
                "    - {fact: certifications, op: ge, value: 2}",
            ),
            "conditions[0].op",
            "accepted for it: contains",
        ),
        (
            ("expect: eligible", "expect: yes"),
            "tests[0].expect",
            "eligible, ineligible, insufficient_data",
        ),
        (("amount: 3}", "amount: 3, near_miss: yes}"), "tests[0].near_miss", "true or false"),
        (("amount: 3}", "amount: 3, failed: [1]}"), "tests[0].failed", "from 0 to 0"),
        (
            ("amount: 3}", "amount: 3, unknown: [profit]}"),
            "tests[0].unknown",
            "accepted: industry_code",
        ),
        (("amount: 3}", "amount: 3, expected: 3}"), "tests[0].expected", "accepted: name, facts"),
        (
            ("facts: {revenue_wan: 3000}", "facts: {revenue_wan: '3000'}"),
            "tests[0].facts.revenue_wan",
            "a number",
        ),
        (
            ("facts: {revenue_wan: 3000}", "facts: {revenue_wan: 3000, profit_wan: 1}"),
            "tests[0].facts.profit_wan",
            "not a fact",
        ),
        (
            ("facts: {revenue_wan: 3000}", "facts: {revenue_wan: 3000, certifications: high_tech}"),
            "tests[0].facts.certifications",
            "list of texts",
        ),
    ],
)
def test_bad_values_are_reported_at_their_path(replace, path, needle):
    old, new = replace
    assert old in POLICY
    parsed = parse_text(POLICY.replace(old, new, 1))
    assert parsed.policies == []
    found = problems_at(parsed, 0, path)
    assert found, [(p.path, p.message) for p in parsed.problems]
    assert needle in found[0].message


def test_no_conditions_or_no_tests_are_refused():
    no_conditions = parse_text(
        POLICY.replace(
            "conditions:\n    - {fact: revenue_wan, op: ge, value: 2000}", "conditions: []"
        )
    )
    assert problems_at(no_conditions, 0, "conditions")
    no_tests = parse_text(POLICY.split("  tests:")[0] + "  tests: []\n")
    [problem] = problems_at(no_tests, 0, "tests")
    assert "at least one case" in problem.message


def test_yaml_booleans_are_only_true_and_false():
    # "no" as a case name stays a text (YAML 1.1 would make it False).
    [p] = parse_text(POLICY.replace("name: ok", "name: no")).policies
    assert p.cases[0].name == "no"


def test_a_numeric_formula_is_a_fixed_amount():
    text = POLICY.replace('formula: "round(revenue_wan * 0.001, 1)"', "formula: 30").replace(
        "amount: 3}", "amount: 30}"
    )
    [p] = parse_text(text).policies
    assert p.document["benefit"]["formula"] == 30
    assert evaluate_pair(p, {"revenue_wan": 2500})[1] == 30


def test_amounts_are_compared_within_a_millionth():
    close = parse_text(POLICY.replace("amount: 3}", "amount: 3.0000005}"))
    assert close.problems == []
    far = parse_text(POLICY.replace("amount: 3}", "amount: 3.00001}"))
    assert "expected amount 3.00001, got 3" in far.problems[0].message


def test_an_unknown_formula_fact_gives_no_amount_not_zero():
    text = POLICY.replace("round(revenue_wan * 0.001, 1)", "tax_wan * 0.1").replace(
        "amount: 3}", "amount: null}"
    )
    [p] = parse_text(text).policies
    outcome, amount = evaluate_pair(p, {"revenue_wan": 3000})
    assert outcome.result == "eligible" and amount is None
    assert evaluate_pair(p, {"revenue_wan": 3000, "tax_wan": 50})[1] == 5


def test_digest_ignores_layout_but_not_content():
    [a] = parse_text(POLICY).policies
    reordered = "\n".join(
        [
            "- issuer: 区经信局",
            *[line for line in POLICY.strip().splitlines() if "issuer" not in line],
        ]
    )
    reordered = reordered.replace("- code: T-1", "  code: T-1")
    [b] = parse_text(reordered).policies
    assert a.digest == b.digest == digest_of(a.document)
    [c] = parse_text(POLICY.replace("title: 测试", "title: 测试二")).policies
    assert c.digest != a.digest


def test_compile_document_reads_a_stored_document_back():
    [p] = parse_text(POLICY).policies
    stored = json.loads(json.dumps(p.document))
    again = compile_document(stored)
    assert again.digest == p.digest and again.conditions == p.conditions
    with pytest.raises(document.DocumentError) as exc:
        compile_document({**stored, "level": "galactic"})
    assert exc.value.problems[0].path == "level"
