"""Full import of a generated district, timed per kind (issue 2, SPEC R6).

    .venv/bin/python bench/bench_import.py                    # district scale, seed 1
    .venv/bin/python bench/bench_import.py --scale city
    .venv/bin/python bench/bench_import.py --files docs/examples   # any folder of import files
    .venv/bin/python bench/bench_import.py --compare-history 2000  # bulk history vs save() per row

The demo generator writes one file per kind (investmap.demo: generate(seed=…,
scale=…) then export_files(district, directory)); a fresh SQLite database in a
temporary folder is migrated, then every kind is imported in dependency order
through `import_file`, the same service as `investmap import` and the upload
page. Parcels name their occupying enterprise, which does not exist yet on the
first pass: they are imported without that column first and linked by a second
pass after the enterprises (docs/import-formats.md). A last pass re-imports the
parcels to time the unchanged path. Prints rows, seconds and rows/s per step.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ORDER = [
    "towns",
    "parks",
    "parcels",
    "buildings",
    "pois",
    "enterprises",
    "indicators",
    "land-grants",
    "teams",
]
EXTENSIONS = (".geojson", ".json", ".csv", ".xlsx")


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", default="district", help="district, city or province")
    p.add_argument(
        "--files", help="import this folder of files instead of generating the demo district"
    )
    p.add_argument(
        "--workdir", help="keep the database and files here (default: a temporary folder)"
    )
    p.add_argument(
        "--compare-history",
        type=int,
        default=0,
        metavar="N",
        help="also time writing N parcels with bulk_create_with_history vs save() per row",
    )
    return p.parse_args()


def setup_django(workdir: Path) -> None:
    """A fresh SQLite file in `workdir`; env before django.setup() so settings read it."""
    os.environ["INVESTMAP_DATA_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "investmap.settings"
    import django

    django.setup()
    from django.core.management import call_command

    t = time.monotonic()
    call_command("migrate", verbosity=0)
    print(f"migrated a fresh database in {time.monotonic() - t:.1f} s: {workdir / 'bench.sqlite3'}")


def demo_api():
    """generate and export_files from investmap.demo (or the submodule that defines them)."""
    found = {}
    for name in (
        "investmap.demo",
        "investmap.demo.generator",
        "investmap.demo.export",
        "investmap.demo.writer",
        "investmap.demo.files",
    ):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for fn in ("generate", "export_files"):
            if fn not in found and hasattr(mod, fn):
                found[fn] = getattr(mod, fn)
    missing = {"generate", "export_files"} - set(found)
    if missing:
        sys.exit(
            f"investmap.demo does not provide {', '.join(sorted(missing))} yet; "
            "use --files DIR to bench a folder of import files"
        )
    return found["generate"], found["export_files"]


def generate_files(seed: int, scale: str, directory: Path) -> dict[str, Path] | None:
    generate, export_files = demo_api()
    t = time.monotonic()
    district = generate(seed=seed, scale=scale)
    t_gen = time.monotonic() - t
    t = time.monotonic()
    written = export_files(district, directory)
    t_exp = time.monotonic() - t
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    print(
        f"generated the {scale} (seed {seed}) in {t_gen:.1f} s; exported {size / 1e6:.1f} MB in {t_exp:.1f} s"
    )
    if isinstance(written, dict):
        return {k.replace("_", "-"): Path(v) for k, v in written.items()}
    return None


def find_files(directory: Path, given: dict[str, Path] | None) -> dict[str, Path]:
    """The file of each kind: as export_files returned them, or by name (parcels.geojson, land_grants.csv …)."""
    files = dict(given or {})
    for kind in ORDER:
        if kind in files:
            continue
        stems = {kind, kind.replace("-", "_")}
        for p in sorted(directory.iterdir()):
            if p.suffix.lower() in EXTENSIONS and p.stem.lower() in stems:
                files[kind] = p
                break
    return files


def without_enterprise(path: Path, out: Path) -> Path:
    """A copy of a parcels GeoJSON without the occupying-enterprise property."""
    doc = json.loads(path.read_text(encoding="utf-8-sig"))
    for f in doc["features"]:
        (f.get("properties") or {}).pop("enterprise", None)
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return out


def timed_import(label, kind, path, rows_by_step, **kw):
    from investmap.resources.importing import import_file

    t = time.monotonic()
    report = import_file(kind=kind, path_or_file=path, dry_run=False, **kw)
    dt_ = time.monotonic() - t
    rows = report.rows
    rows_by_step.append(
        {
            "step": label,
            "file": path.name,
            "rows": rows,
            "seconds": dt_,
            "rows_s": rows / dt_ if dt_ else 0.0,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": len(report.errors),
            "timings": report.timings,
        }
    )
    if report.errors:
        print(f"  {label}: {len(report.errors)} errors, nothing written; first ones:")
        for line in report.error_lines()[:5]:
            print("    " + line)
    return report


def compare_history(n: int) -> None:
    """Two ways to write N new parcels with their history rows, each rolled back afterwards."""
    from django.db import transaction
    from simple_history.utils import bulk_create_with_history

    from investmap.resources.models import Parcel

    template = list(Parcel.objects.order_by("pk")[:n])
    if not template:
        print("compare-history: no parcels to copy")
        return

    def copies(prefix):
        out = []
        for i, p in enumerate(template):
            q = Parcel(
                **{
                    f.attname: getattr(p, f.attname)
                    for f in Parcel._meta.concrete_fields
                    if f.attname != "id"
                }
            )
            q.code = f"{prefix}{i:07d}"
            out.append(q)
        return out

    results = {}
    for label in ("bulk_create_with_history", "save() per row"):
        objs = copies("HB-" if label.startswith("bulk") else "HS-")
        with transaction.atomic():
            t = time.monotonic()
            if label.startswith("bulk"):
                bulk_create_with_history(objs, Parcel, batch_size=500)
            else:
                for o in objs:
                    o.save()
            results[label] = time.monotonic() - t
            assert Parcel.history.filter(code__startswith=objs[0].code[:3]).count() == len(objs)
            transaction.set_rollback(True)
    for label, s in results.items():
        print(
            f"  {label:26s} {len(template):7d} parcels  {s:6.2f} s  {len(template) / s:8.0f} rows/s"
        )


def main():
    args = parse_args()
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "bench.sqlite3").exists():
            sys.exit(f"{workdir / 'bench.sqlite3'} exists; the bench needs a fresh database")
        keep = None
    else:
        keep = tempfile.TemporaryDirectory(prefix="investmap-bench-")
        workdir = Path(keep.name)
    setup_django(workdir)

    if args.files:
        directory = Path(args.files).resolve()
        files = find_files(directory, None)
    else:
        directory = workdir / "files"
        directory.mkdir(exist_ok=True)
        files = find_files(directory, generate_files(args.seed, args.scale, directory))
    missing = [k for k in ORDER if k not in files]
    if missing:
        print(f"no file for: {', '.join(missing)} (skipped)")

    steps: list[dict] = []
    total = time.monotonic()
    for kind in ORDER:
        if kind not in files:
            continue
        path = files[kind]
        if kind == "parcels" and path.suffix.lower() in (".geojson", ".json"):
            first = without_enterprise(path, workdir / "parcels-without-enterprise.geojson")
            timed_import("parcels (no occupants)", kind, first, steps)
        else:
            timed_import(kind, kind, path, steps)
    if "parcels" in files:
        timed_import("parcels (link occupants)", "parcels", files["parcels"], steps)
        timed_import("parcels (unchanged)", "parcels", files["parcels"], steps)
    total = time.monotonic() - total

    print()
    print(
        f"{'step':28s} {'rows':>8s} {'seconds':>8s} {'rows/s':>8s} {'created':>8s} {'updated':>8s} "
        f"{'unchanged':>9s} {'errors':>6s}"
    )
    for s in steps:
        print(
            f"{s['step']:28s} {s['rows']:8d} {s['seconds']:8.2f} {s['rows_s']:8.0f} {s['created']:8d} "
            f"{s['updated']:8d} {s['unchanged']:9d} {s['errors']:6d}"
        )
    print(f"{'total':28s} {sum(s['rows'] for s in steps):8d} {total:8.2f}")
    print()
    print("phases (s): read / shapes / validate (incl. shapes, containment) / write")
    for s in steps:
        t = s["timings"]
        print(
            f"  {s['step']:26s} {t.get('read', 0):6.2f} {t.get('shapes', 0):6.2f} {t.get('validate', 0):6.2f} "
            f"{t.get('write', 0):6.2f}"
        )

    if args.compare_history:
        print()
        print(f"history write paths (N = {args.compare_history}, rolled back):")
        compare_history(args.compare_history)
    if keep is not None:
        keep.cleanup()
    if any(s["errors"] for s in steps):
        sys.exit(1)


if __name__ == "__main__":
    main()
