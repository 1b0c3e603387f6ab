"""The analysis engine: DuckDB with spatial, reading the record store by ATTACH.

Extensions come from PyPI wheels (duckdb-extension-*) and are loaded offline;
autoinstall is off so nothing is ever fetched from the network.
"""

import json
import multiprocessing
import os
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import duckdb
import duckdb_extensions
from django.conf import settings
from django.db import connection as django_connection

RECORD_STORE = "rec"


def _load(con, name: str) -> None:
    duckdb_extensions.import_extension(name, con=con)
    con.execute(f"LOAD {name}")


def connect(*, attach: bool = True, path: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB connection with spatial loaded; the record store attached read-only.

    `path` is the DuckDB database (default: settings.INVESTMAP_ENGINE_PATH)."""
    con = duckdb.connect(settings.INVESTMAP_ENGINE_PATH if path is None else path)
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    _load(con, "spatial")
    if attach:
        attach_record_store(con)
    return con


def attach_record_store(con) -> None:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        _load(con, "sqlite")
        path = str(db["NAME"]).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {RECORD_STORE} (TYPE sqlite, READ_ONLY)")
    elif "postgresql" in db["ENGINE"]:
        _load(con, "postgres")
        parts = {
            "dbname": db.get("NAME"),
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER"),
            "password": db.get("PASSWORD"),
        }
        dsn = " ".join(f"{k}={v}" for k, v in parts.items() if v not in (None, ""))
        con.execute(f"ATTACH '{dsn}' AS {RECORD_STORE} (TYPE postgres, READ_ONLY)")
    else:
        raise RuntimeError(f"unsupported record store engine {db['ENGINE']}")


def _is_sqlite() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@contextmanager
def session(*, attach: bool = True):
    """`with session(attach=False) as con:` — a DuckDB connection with spatial loaded.

    With `attach=True` the record store is attached read-only — PostgreSQL only.
    A SQLite record store is never attached inside a process that also holds a
    Django SQLite connection: DuckDB's sqlite extension carries its own copy of
    the SQLite library, the two copies do not see each other's POSIX locks, and
    DuckDB's copy resets the WAL index (-shm) Django has mapped — the process
    then dies of SIGBUS on its next large write (sqlite.org/howtocorrupt.html
    §2.2, duckdb/duckdb-sqlite#82; reproduced here). Use `run()`, which does
    the work in the engine's helper process on SQLite. See docs/adr/0004.
    """
    if attach and _is_sqlite():
        raise RuntimeError(
            "a SQLite record store is attached only in the helper process: use engine.connection.run()"
        )
    if attach and django_connection.in_atomic_block:
        raise RuntimeError(
            "engine reads inside a transaction would miss its uncommitted rows; use load_rows"
        )
    con = connect(attach=attach)
    try:
        yield con
    finally:
        con.close()


# --- reading the record store: run(fn, *args) -----------------------------------

_pool: ProcessPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()
_helper_con = None  # the helper process's DuckDB connection


def _executor() -> ProcessPoolExecutor:
    """One helper process per web process, started on first use. Spawned, not
    forked: a fork would inherit this process's SQLite descriptors and threads."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            _pool_pid = os.getpid()
        return _pool


def _reset_executor() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _run_in_helper(path: str, fn, args):
    """In the helper process: attach the SQLite file read-only, run, detach."""
    global _helper_con
    if _helper_con is None:
        con = connect(attach=False, path=":memory:")
        _load(con, "sqlite")
        _helper_con = con
    con = _helper_con
    con.execute(
        f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {RECORD_STORE} (TYPE sqlite, READ_ONLY)"
    )
    try:
        return fn(con, *args)
    finally:
        # Detaching closes DuckDB's SQLite connections: no lock or read mark is held between calls.
        con.execute(f"DETACH {RECORD_STORE}")


def run(fn, *args):
    """`fn(con, *args)` with the (committed) record store attached as `rec`.

    `fn` must be a module-level function and its arguments and result
    picklable: on SQLite it runs in the engine's helper process (see session()).
    """
    if django_connection.in_atomic_block:
        raise RuntimeError(
            "engine reads inside a transaction would miss its uncommitted rows; use load_rows"
        )
    if not _is_sqlite():
        with session() as con:
            return fn(con, *args)
    path = str(settings.DATABASES["default"]["NAME"])
    for attempt in (1, 2):
        try:
            return _executor().submit(_run_in_helper, path, fn, args).result()
        except BrokenProcessPool:
            _reset_executor()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def table(name: str) -> str:
    """The engine-side name of a record-store table, e.g. table('resources_parcel')."""
    return f"{RECORD_STORE}.{name}"


def load_rows(con, name: str, rows: list[dict], columns: dict[str, str]) -> None:
    """Create temp table `name` from Python rows quickly (via newline-delimited JSON).

    `columns` maps column name → DuckDB type. Binding 30k values as parameters
    takes seconds; a temporary NDJSON file read by read_json takes ~0.1 s.
    """
    cols = ", ".join(f"{k}: '{v}'" for k, v in columns.items())
    if not rows:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM (SELECT "
            + ", ".join(f"NULL::{v} AS {k}" for k, v in columns.items())
            + ") WHERE false"
        )
        return
    fd, path = tempfile.mkstemp(suffix=".ndjson")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({k: r.get(k) for k in columns}, ensure_ascii=False))
                f.write("\n")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_json(?, format='newline_delimited', columns={{{cols}}})",
            [path],
        )
    finally:
        os.unlink(path)
