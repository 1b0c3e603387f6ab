"""Time the demo district: generation and the write into a fresh database, per step.

    .venv/bin/python bench/bench_demo.py                        # district scale, seed 42
    .venv/bin/python bench/bench_demo.py --scale city           # 5× (minutes)
    .venv/bin/python bench/bench_demo.py --method orm           # bulk_create_with_history instead
    .venv/bin/python bench/bench_demo.py --no-history           # without the initial history rows
    .venv/bin/python bench/bench_demo.py --export               # also time export_files
    DATABASE_URL=postgres://… .venv/bin/python bench/bench_demo.py --database-url "$DATABASE_URL"

A fresh SQLite database in a temporary folder (INVESTMAP_DATA_DIR and
DATABASE_URL are set before django.setup()) is migrated, then the district is
generated and written. Prints seconds per step, rows per kind and rows/s, the
wall and CPU time of each phase, and the load average: on a shared machine the
wall time grows with other people's jobs, the CPU time does not.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", default="district", choices=["tiny", "district", "city", "province"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--method", default="fast", choices=["fast", "orm"])
    p.add_argument("--no-history", action="store_true")
    p.add_argument("--export", action="store_true", help="also write the import files (timed)")
    p.add_argument(
        "--database-url", help="an empty database to use instead of a temporary SQLite file"
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, files)"
    )
    return p.parse_args()


class Clock:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="investmap-bench-demo-"))
    os.environ["INVESTMAP_DATA_DIR"] = str(work)
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "investmap.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from investmap.demo.exporter import export_files
    from investmap.demo.generator import generate
    from investmap.demo.writer import write

    load0 = os.getloadavg()
    print(
        f"InvestMap demo bench: scale {args.scale}, seed {args.seed}, {connection.vendor} "
        f"({connection.settings_dict['NAME']}), {os.cpu_count()} CPUs, load average {load0[0]:.1f}"
    )
    c = Clock()
    call_command("migrate", verbosity=0)
    print(f"migrated in {c.lap()[0]:.1f} s")

    print("\ngenerate")
    c = Clock()
    district = generate(seed=args.seed, scale=args.scale, log=print)
    gen_wall, gen_cpu = c.lap()
    print(f"  {'total':<13}{gen_wall:7.2f} s wall, {gen_cpu:.2f} s CPU")

    print(f"\nwrite ({args.method}, {'no history' if args.no_history else 'with history'})")
    c = Clock()
    written = write(district, history=not args.no_history, method=args.method, log=print)
    write_wall, write_cpu = c.lap()
    rows = sum(written.values())
    print(
        f"  {'total':<13}{rows:>8} rows {write_wall:7.2f} s wall, {write_cpu:.2f} s CPU, "
        f"{rows / write_wall:,.0f} rows/s"
        + ("" if args.no_history else f" (+{rows:,} history rows)")
    )

    exp_wall = 0.0
    if args.export:
        c = Clock()
        paths = export_files(district, work / "files")
        exp_wall = c.lap()[0]
        size = sum(p.stat().st_size for p in paths.values())
        print(f"\nexport: {len(paths)} files, {size / 1e6:.1f} MB in {exp_wall:.2f} s")

    total = gen_wall + write_wall
    load1 = os.getloadavg()
    print("\nsummary")
    for kind, n in district.counts().items():
        print(f"  {kind:<13}{n:>10,}")
    print(
        f"  generate + write: {total:.1f} s wall ({gen_wall:.1f} + {write_wall:.1f}), "
        f"{gen_cpu + write_cpu:.1f} s CPU; load average now {load1[0]:.1f}"
    )
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
