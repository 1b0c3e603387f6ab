"""`investmap import KIND FILE [--dry-run] [--json] [--crs]`: output shapes and exit status."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from investmap.core import geo
from investmap.resources.models import Poi

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue(), err.getvalue()


def test_json_output_shape_on_success(district):
    code, out, _err = call("pois", str(DATA / "pois_utf8_bom.csv"), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc == {"created": 2, "updated": 0, "unchanged": 0, "errors": [], "dry_run": False}
    assert Poi.objects.filter(code__startswith="BOM-").count() == 2
    code, out, _err = call("pois", str(DATA / "pois_utf8_bom.csv"), "--json")
    assert json.loads(out)["unchanged"] == 2


def test_json_output_on_errors_and_nonzero_exit(district):
    code, out, _err = call(
        "indicators", str(DATA / "indicators_wrong_types.csv"), "--json", "--dry-run"
    )
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"created", "updated", "unchanged", "errors", "dry_run"}
    assert doc["dry_run"] is True and (doc["created"], doc["updated"], doc["unchanged"]) == (
        0,
        0,
        0,
    )
    assert len(doc["errors"]) == 7
    first = doc["errors"][0]
    assert set(first) == {"row", "field", "value", "message"}
    assert (first["row"], first["field"], first["value"]) == (3, "year", "2024年")


def test_human_output_lists_counts_then_errors(district):
    code, out, _err = call("parcels", str(DATA / "parcels_unknown_town.geojson"))
    assert code == 1
    lines = out.splitlines()
    assert "created 0, updated 0, unchanged 0" in lines[1]
    assert "row = feature number" in out
    assert (
        "parcels_unknown_town.geojson row 2, field town, value \"T99\": unknown town 'T99'; known towns: T01, T02"
        in lines
    )


def test_dry_run_writes_nothing(district):
    code, out, _err = call("pois", str(DATA / "pois_utf8_bom.csv"), "--dry-run")
    assert code == 0 and "dry run" in out and "created 2" in out
    assert not Poi.objects.filter(code__startswith="BOM-").exists()


def test_crs_option(district, tmp_path):
    path = tmp_path / "amap.csv"
    path.write_text("code,name,category,lon,lat\nG-1,站,bus_stop,121.0344,31.0182\n")
    assert call("pois", str(path), "--crs", "gcj02")[0] == 0
    p = Poi.objects.get(code="G-1")
    expected = geo.gcj02_to_wgs84_point(121.0344, 31.0182)
    assert geo.haversine_m(p.lon, p.lat, *expected) < 0.5
    assert (
        geo.haversine_m(p.lon, p.lat, 121.0344, 31.0182) > 300
    )  # really moved off the AMap offset


def test_progress_goes_to_stderr(district):
    code, out, err = call("pois", str(DATA / "pois_utf8_bom.csv"), "--json", "--verbosity", "2")
    assert code == 0 and json.loads(out)["created"] == 2
    assert "parsed 2 rows" in err and "validated" in err and "wrote" in err


def test_unknown_user_is_an_error(district):
    with pytest.raises(CommandError):
        call_command("import", "pois", str(DATA / "pois_utf8_bom.csv"), "--user", "nobody")


def database_url() -> str:
    """The test database as a DATABASE_URL, for a subprocess."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_console_script_exit_status(db):
    """The real console script, on the migrated test database: exit 1 with errors, 0 without."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "investmap.settings",
        "LANGUAGE": "en",
    }
    exe = [sys.executable, "-m", "investmap"]
    bad = subprocess.run(
        [*exe, "import", "pois", str(DATA / "pois_bad.csv"), "--json", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["errors"] and doc["dry_run"] is True
    good = subprocess.run(
        [*exe, "import", "towns", str(EXAMPLES / "towns.geojson"), "--json", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["created"] == 2
