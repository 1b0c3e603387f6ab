"""What the benchmarks share: the record store of a scale, the demo district in it, the
commit and the machine they ran on. Imported by the scripts beside it (`python bench/x.py`)."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(scale: str) -> Path:
    """Django on `var/bench/<scale>.sqlite3`, migrated; returns the file."""
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"{scale}.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "investmap.settings"
    os.environ.setdefault("INVESTMAP_DEBUG", "0")  # production-like: no query log
    import django

    django.setup()
    from django.core.management import call_command

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"record store {db} (migrated in {time.perf_counter() - t:.1f} s)")
    return db


def ensure_demo(
    *, scale: str, seed: int, fresh: bool, show: tuple[str, ...], note: str = ""
) -> None:
    """Generate and write the demo district unless the store already holds one (or `fresh`)."""
    from investmap.demo.generator import generate
    from investmap.demo.writer import library_counts, write

    counts = library_counts()
    if any(counts.values()) and not fresh:
        print(
            "demo district already stored: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k in show)
        )
        return
    t = time.perf_counter()
    district = generate(seed=seed, scale=scale)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    write(district, reset=True, history=False)
    print(
        f"demo district generated in {gen:.1f} s, written{note} in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in district.counts().items())
    )


def code_version(app: str) -> str:
    """The commit, and whether `src/investmap/<app>` differs from it (read-only git calls)."""

    def git(*a):
        r = subprocess.run(
            ["git", "--no-optional-locks", *a], cwd=ROOT, capture_output=True, text=True
        )
        return r.stdout.strip() if r.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", f"src/investmap/{app}")
    return head + (f" + uncommitted changes in src/investmap/{app}" if dirty else "")


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) / 1024 / 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        cpu += f", {mem:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    import duckdb

    return f"{os.cpu_count()} CPUs ({cpu}); Python {sys.version.split()[0]}, DuckDB {duckdb.__version__}"
