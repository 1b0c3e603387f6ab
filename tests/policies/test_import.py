"""Importing policy documents: all or nothing, versions, dry runs and the commands."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from investmap.core.models import AuditEvent
from investmap.core.scope import NOBODY
from investmap.policies import services
from investmap.policies.document import example_files, parse_document, policy_changed
from investmap.policies.models import Policy, PolicyVersion
from investmap.resources.importing import EXTRA_KINDS, KINDS, all_kinds, import_file

FILES = Path(__file__).resolve().parent / "files"
BAD_FILES = [
    "broken.yaml",
    "broken.json",
    "unknown-op.yaml",
    "escaping-formulas.yaml",
    "failing-test.yaml",
    "invalid-dates.yaml",
    "duplicate-codes.yaml",
    "duplicate-keys.yaml",
    "bad.json",
]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def changes():
    """The policy_changed signals sent (sender, codes)."""
    sent = []

    def receiver(sender, codes, **kwargs):
        sent.append((sender, list(codes)))

    policy_changed.connect(receiver)
    yield sent
    policy_changed.disconnect(receiver)


def run(path: Path, *, dry_run=False, user=None, content=None):
    return services.import_policies(
        content=content if content is not None else path.read_bytes(),
        filename=path.name,
        dry_run=dry_run,
        user=user,
    )


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue(), err.getvalue()


def good_text() -> str:
    return (FILES / "good.yaml").read_text(encoding="utf-8")


# --- the shipped examples ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_example_imports(path, changes, django_capture_on_commit_callbacks):
    expected = parse_document(content=path.read_bytes(), filename=path.name)
    with django_capture_on_commit_callbacks(execute=True):
        report = run(path)
    assert report["errors"] == []
    assert report["created"] == expected.count and report["updated"] == report["unchanged"] == 0
    assert {r["status"] for r in report["policies"]} == {"created"}
    codes = [p.code for p in expected.policies]
    assert sorted(Policy.objects.values_list("code", flat=True)) == sorted(codes)
    assert changes == [(Policy, codes)]
    for p in expected.policies:
        head = Policy.objects.get(code=p.code)
        assert (head.version, head.current.number, head.current.digest) == (1, 1, p.digest)
        assert head.current.document == p.document
        assert head.title == p.title and head.valid_from == p.valid_from
        assert p.title.lower() in head.search_text and p.issuer in head.search_text
    # their own tests pass from the stored versions too
    code, out, _err = call("policies", "test", "--all")
    assert code == 0, out
    assert out.count("cases pass") == len(codes)


@pytest.mark.django_db
def test_all_examples_import_together_and_again_unchanged():
    for path in example_files():
        assert run(path)["errors"] == []
    versions = PolicyVersion.objects.count()
    assert versions >= 6
    for path in example_files():
        report = run(path)
        assert report["created"] == report["updated"] == 0 and report["unchanged"] > 0
    assert PolicyVersion.objects.count() == versions


# --- versions --------------------------------------------------------------------------


@pytest.mark.django_db
def test_reimport_unchanged_creates_nothing(changes, django_capture_on_commit_callbacks, users):
    with django_capture_on_commit_callbacks(execute=True):
        first = run(FILES / "good.yaml", user=users["bureau"])
    assert (first["created"], first["updated"], first["unchanged"]) == (2, 0, 0)
    v = PolicyVersion.objects.get(policy__code="T-GOOD-1")
    assert v.created_by == users["bureau"]
    with django_capture_on_commit_callbacks(execute=True):
        again = run(FILES / "good.json")  # the same policies spelled in JSON
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert [r["status"] for r in again["policies"]] == ["unchanged", "unchanged"]
    assert [r["version"] for r in again["policies"]] == [1, 1]
    assert PolicyVersion.objects.count() == 2
    assert changes == [(Policy, ["T-GOOD-1", "T-GOOD-2"])]  # nothing sent the second time


@pytest.mark.django_db
def test_a_changed_policy_gets_version_2_and_version_1_stays(
    changes, django_capture_on_commit_callbacks
):
    run(FILES / "good.yaml")
    v1 = PolicyVersion.objects.get(policy__code="T-GOOD-1", number=1)
    v1_document, v1_digest = v1.document, v1.digest
    changed = good_text().replace("测试政策一(研发补助)", "测试政策一(研发补助,2026修订)")
    changed = changed.replace("min(rd_spend_wan * 0.1, 50)", "min(rd_spend_wan * 0.1, 60)")
    changed = changed.replace("expect: eligible, amount: 50}", "expect: eligible, amount: 60}")
    with django_capture_on_commit_callbacks(execute=True):
        report = run(FILES / "good.yaml", content=changed.encode())
    assert report["errors"] == []
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 1)
    assert report["policies"][0] == {
        "index": 0,
        "code": "T-GOOD-1",
        "status": "new_version",
        "version": 2,
    }
    head = Policy.objects.get(code="T-GOOD-1")
    v2 = PolicyVersion.objects.get(policy=head, number=2)
    assert head.version == 2 and head.current == v2
    assert head.title == "测试政策一(研发补助,2026修订)" and "2026修订" in head.search_text
    assert v2.document["benefit"]["formula"] == "min(rd_spend_wan * 0.1, 60)"
    v1.refresh_from_db()
    assert (v1.document, v1.digest) == (v1_document, v1_digest)
    assert v1.document["benefit"]["formula"] == "min(rd_spend_wan * 0.1, 50)"
    assert Policy.objects.get(code="T-GOOD-2").version == 1
    assert changes == [(Policy, ["T-GOOD-1"])]
    # the old content again is a third version, not a rewrite
    assert run(FILES / "good.yaml")["policies"][0]["version"] == 3
    assert list(head.versions.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_reports_what_would_happen(changes):
    report = run(FILES / "good.yaml", dry_run=True)
    assert report["dry_run"] is True and report["errors"] == []
    assert (report["created"], report["updated"]) == (2, 0)
    assert [r["status"] for r in report["policies"]] == ["created", "created"]
    assert Policy.objects.count() == PolicyVersion.objects.count() == 0
    assert AuditEvent.objects.count() == 0 and changes == []
    run(FILES / "good.yaml")
    changed = good_text().replace("测试政策二(高企奖励)", "测试政策二(改)")
    report = run(FILES / "good.yaml", dry_run=True, content=changed.encode())
    assert [(r["status"], r["version"]) for r in report["policies"]] == [
        ("unchanged", 1),
        ("new_version", 2),
    ]
    assert PolicyVersion.objects.count() == 2
    assert Policy.objects.get(code="T-GOOD-2").title == "测试政策二(高企奖励)"


# --- refused files: nothing written --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_refused_and_nothing_is_written(name, changes):
    report = run(FILES / name)
    assert report["errors"]
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 0)
    assert Policy.objects.count() == PolicyVersion.objects.count() == 0
    assert changes == []
    for e in report["errors"]:
        assert set(e) == {"row", "field", "policy", "code", "path", "value", "message"}
        assert e["message"]
    audit = AuditEvent.objects.get(action="import", target="policies")
    assert audit.detail["ok"] is False and audit.detail["errors"] == len(report["errors"])


@pytest.mark.django_db
def test_one_bad_policy_refuses_the_whole_file_even_if_others_are_valid():
    run(FILES / "good.yaml")
    report = run(FILES / "unknown-op.yaml")
    assert [r["status"] for r in report["policies"]] == ["created", "invalid"]
    assert report["created"] == 0
    assert not Policy.objects.filter(code__in=["T-OK", "T-BAD-OP"]).exists()
    [op, fact] = report["errors"]
    assert (op["policy"], op["code"], op["path"], op["value"]) == (
        1,
        "T-BAD-OP",
        "conditions[1].any[0].op",
        "between",
    )
    assert op["field"] == "policies[1] (T-BAD-OP) conditions[1].any[0].op"
    assert fact["path"] == "conditions[1].any[1].fact"


@pytest.mark.django_db
def test_escaping_formula_is_refused_at_import():
    report = run(FILES / "escaping-formulas.yaml")
    assert {e["path"] for e in report["errors"]} == {"benefit.formula"}
    assert {e["code"] for e in report["errors"]} == {
        "T-ESC-IMPORT",
        "T-ESC-CLASS",
        "T-ESC-NAME",
        "T-ESC-ATTR",
    }
    assert Policy.objects.count() == 0


@pytest.mark.django_db
def test_a_policy_whose_case_fails_is_refused_naming_the_case():
    report = run(FILES / "failing-test.yaml")
    assert [(e["code"], e["path"], e["value"]) for e in report["errors"]] == [
        ("T-FAILS", "tests[1]", "金额写错"),
        ("T-FAILS", "tests[2]", "结果写错"),
    ]
    assert Policy.objects.count() == 0


@pytest.mark.django_db
def test_too_large_a_file_is_refused(settings):
    settings.INVESTMAP_IMPORT_MAX_BYTES = 100
    report = run(FILES / "good.yaml")
    [error] = report["errors"]
    assert error["policy"] is None and "largest accepted import is 100" in error["message"]
    assert Policy.objects.count() == 0


# --- `investmap import policies FILE` ----------------------------------------------------


def test_policies_is_a_kind_of_the_foundation_importer():
    assert "policies" in all_kinds() and "policies" in EXTRA_KINDS
    assert all_kinds()[: len(KINDS)] == KINDS  # resource kinds first, in dependency order


@pytest.mark.django_db
def test_import_command_json():
    code, out, _err = call("import", "policies", str(FILES / "good.yaml"), "--json", "--dry-run")
    assert code == 0
    doc = json.loads(out)
    assert {"created", "updated", "unchanged", "errors", "dry_run"} <= set(doc)
    assert (doc["created"], doc["dry_run"]) == (2, True)
    assert Policy.objects.count() == 0
    code, out, _err = call("import", "policies", str(FILES / "good.yaml"), "--json")
    assert code == 0 and json.loads(out)["created"] == 2
    assert Policy.objects.count() == 2
    code, out, _err = call("import", "policies", str(FILES / "good.yaml"), "--json")
    assert json.loads(out)["unchanged"] == 2


@pytest.mark.django_db
def test_import_command_errors_exit_1_and_name_file_policy_path_value(users):
    code, out, _err = call("import", "policies", str(FILES / "unknown-op.yaml"))
    assert code == 1
    assert "unknown-op.yaml: policies (nothing written)" in out
    assert (
        'unknown-op.yaml, field policies[1] (T-BAD-OP) conditions[1].any[0].op, value "between": '
        "'between' is not an op; accepted: eq, ne" in out
    )
    assert Policy.objects.count() == 0
    code, out, _err = call(
        "import", "policies", str(FILES / "good.yaml"), "--user", users["bureau"].username
    )
    assert code == 0 and "created 2, updated 0, unchanged 0" in out
    assert PolicyVersion.objects.filter(created_by=users["bureau"]).count() == 2


@pytest.mark.django_db
def test_import_file_checks_the_scope_for_policies_too():
    report = import_file(
        kind="policies", path_or_file=FILES / "good.yaml", dry_run=False, scope=NOBODY
    )
    assert report.errors and "may not import policies" in report.errors[0].message
    assert Policy.objects.count() == 0


# --- `investmap policies import|test` ---------------------------------------------------


@pytest.mark.django_db
def test_policies_import_command_lists_each_policy():
    code, out, _err = call("policies", "import", str(FILES / "good.yaml"), "--dry-run")
    assert code == 0
    assert "good.yaml: 2 policies (dry run, nothing written)" in out
    assert "T-GOOD-1: would be created as version 1" in out
    code, out, _err = call("policies", "import", str(FILES / "good.yaml"))
    assert "T-GOOD-2: created, version 1" in out
    code, out, _err = call("policies", "import", str(FILES / "good.json"), "--json")
    assert code == 0
    assert [r["status"] for r in json.loads(out)["policies"]] == ["unchanged", "unchanged"]
    code, out, _err = call("policies", "import", str(FILES / "failing-test.yaml"))
    assert code == 1
    assert "T-FAILS: refused" in out
    assert "tests[1]" in out and "expected amount 6, got 5" in out


@pytest.mark.django_db
def test_policies_import_command_unreadable_file_and_unknown_user():
    code, _out, _err = call("policies", "import", str(FILES / "missing.yaml"))
    assert code == 1
    with pytest.raises(CommandError, match="no user named"):
        call_command("policies", "import", str(FILES / "good.yaml"), "--user", "nobody")


@pytest.mark.django_db
def test_policies_test_command():
    code, out, _err = call("policies", "test", str(FILES / "good.yaml"))
    assert code == 0 and out.count("cases pass") == 2
    assert Policy.objects.count() == 0  # testing a file writes nothing
    code, out, _err = call("policies", "test", str(FILES / "failing-test.yaml"))
    assert code == 1 and "T-FAILS: 2 problems" in out
    code, out, _err = call("policies", "test", "--examples", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["failures"] == 0 and len(doc["policies"]) >= 6
    code, out, _err = call("policies", "test", "--all")
    assert code == 0 and "no policies to test" in out


@pytest.mark.django_db
def test_policies_test_all_reports_a_stored_document_that_no_longer_passes():
    run(FILES / "good.yaml")
    version = PolicyVersion.objects.get(policy__code="T-GOOD-1")
    document = dict(version.document)
    document["tests"] = [{**document["tests"][0], "amount": 21}]
    PolicyVersion.objects.filter(pk=version.pk).update(document=document)
    code, out, _err = call("policies", "test", "--all")
    assert code == 1
    assert "T-GOOD-1 v1: 1 problems" in out and "expected amount 21, got 20" in out
    assert "T-GOOD-2 v1: 2 cases pass" in out
