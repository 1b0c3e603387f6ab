"""`investmap match sites|rebuild|status`."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from investmap.matching import features, services
from investmap.matching.management.commands.match import OPERATOR
from investmap.matching.models import FeatureState

LAND = {
    "area_mu_min": 40,
    "area_mu_max": 150,
    "status": ["available", "idle", "in_use"],
    "near": [{"category": "school", "weight": 1}],
}


def run(*args) -> str:
    out = io.StringIO()
    call_command("match", *args, stdout=out)
    return out.getvalue()


def write(tmp_path, data, name="demand.json", **kw) -> str:
    path = tmp_path / name
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    path.write_text(text, **{"encoding": "utf-8", **kw})
    return str(path)


def without_timing(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "took_ms"}


@pytest.mark.django_db
def test_sites_json_equals_the_service(district, tmp_path):
    out = json.loads(run("sites", "--demand", write(tmp_path, LAND), "--json"))
    want = services.match_sites(data=LAND, scope=OPERATOR)
    assert without_timing(out) == json.loads(json.dumps(without_timing(want)))
    assert out["total"] == 3 and out["counts"] == {"parcel": 3, "combination": 0, "floor_space": 0}
    assert out["results"][0]["geometry"]["type"] == "Polygon"
    out = json.loads(run("sites", "--demand", write(tmp_path, LAND), "--json", "--no-outlines"))
    assert all(r["geometry"] is None for r in out["results"])


@pytest.mark.django_db
def test_sites_text(district, tmp_path):
    text = run("sites", "--demand", write(tmp_path, LAND))
    lines = text.splitlines()
    assert re.search(r"\b3\b", lines[0])  # the total
    ranked = [line for line in lines if re.match(r"\s+\d+\. ", line)]
    assert len(ranked) == 3
    assert {line.split()[2] for line in ranked} == {"P-001", "P-002", "P-003"}
    assert "✓" in text


@pytest.mark.django_db
def test_sites_from_stdin_and_with_a_bom(district, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(LAND)))
    out = json.loads(run("sites", "--demand", "-", "--json"))
    assert out["total"] == 3
    path = write(tmp_path, LAND, encoding="utf-8-sig")
    assert json.loads(run("sites", "--demand", path, "--json"))["total"] == 3


@pytest.mark.django_db
def test_sites_as_a_user(users, tmp_path):
    path = write(tmp_path, LAND)
    out = json.loads(run("sites", "--demand", path, "--json", "--user", "officer_t02"))
    assert out["total"] == 3
    with pytest.raises(CommandError):
        run("sites", "--demand", path, "--user", "sysadmin")
    with pytest.raises(CommandError, match="nobody"):
        run("sites", "--demand", path, "--user", "nobody")


@pytest.mark.django_db
def test_invalid_demand(district, tmp_path):
    path = write(tmp_path, {"area_mu_min": 60, "area_mu_max": 40, "land_use": ["M9"]})
    with pytest.raises(CommandError) as info:
        run("sites", "--demand", path)
    message = str(info.value)
    assert "area_mu_min" in message and "land_use" in message and "M9" in message


@pytest.mark.django_db
def test_invalid_demand_with_json_exits_2(district, tmp_path, capsys):
    path = write(tmp_path, {"area_mu_min": -1, "bogus": 1})
    out = io.StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("match", "sites", "--demand", path, "--json", stdout=out)
    assert info.value.code == 2
    answer = json.loads(out.getvalue())
    assert answer["code"] == "invalid" and set(answer["errors"]) == {"area_mu_min", "bogus"}


@pytest.mark.django_db
def test_bad_json_names_line_and_column(district, tmp_path):
    path = write(tmp_path, '{\n  "area_mu_min": 40,\n  "area_mu_max": ,\n}')
    with pytest.raises(CommandError) as info:
        run("sites", "--demand", path)
    message = str(info.value)
    assert path in message
    assert re.search(r"\b3\b", message) and re.search(r"\b18\b", message)  # line 3, column 18


@pytest.mark.django_db
def test_missing_file(district, tmp_path):
    with pytest.raises(CommandError) as info:
        run("sites", "--demand", str(tmp_path / "nothing.json"))
    assert "nothing.json" in str(info.value)


@pytest.mark.django_db
def test_rebuild_and_status(district):
    status = json.loads(run("status"))
    assert status["pending_changes"] is True and status["generation"] == 0
    text = run("rebuild")
    assert re.search(r"\b3\b", text) and re.search(r"\b1\b", text)  # 3 parcels, 1 building/pair
    st = FeatureState.objects.get(pk=1)
    assert st.generation == 1 and st.token
    status = json.loads(run("status"))
    assert status["pending_changes"] is False and status["generation"] == 1
    assert status["epsg"] == "EPSG:32651" and status["full"] is True
    assert status["counts"] == {"parcel": 3, "building": 1, "edges": 1}
    out = io.StringIO()
    call_command("match", "rebuild", verbosity=0, stdout=out)
    assert features.state().generation == 2
    assert len(out.getvalue().strip().splitlines()) == 1  # quiet: only the summary


@pytest.mark.django_db
def test_an_action_is_required():
    with pytest.raises(CommandError):
        call_command("match")


@pytest.mark.django_db
def test_sites_text_for_a_combination(district, tmp_path):
    text = run("sites", "--demand", write(tmp_path, {"area_mu_min": 100, "area_mu_max": 140}))
    ranked = [line for line in text.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(ranked) == 1 and "P-001 + P-002" in ranked[0]
