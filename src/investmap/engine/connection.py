"""The analysis engine: DuckDB with spatial, reading the record store by ATTACH.

Extensions come from PyPI wheels (duckdb-extension-*) and are loaded offline;
autoinstall is off so nothing is ever fetched from the network.
"""

import json
import os
import tempfile
from contextlib import contextmanager

import duckdb
import duckdb_extensions
from django.conf import settings
from django.db import connection as django_connection

RECORD_STORE = "rec"


def _load(con, name: str) -> None:
    duckdb_extensions.import_extension(name, con=con)
    con.execute(f"LOAD {name}")


def connect(*, attach: bool = True) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB connection with spatial loaded; the record store attached read-only."""
    con = duckdb.connect(settings.INVESTMAP_ENGINE_PATH)
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
            "dbname": db.get("NAME"), "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432, "user": db.get("USER"), "password": db.get("PASSWORD"),
        }
        dsn = " ".join(f"{k}={v}" for k, v in parts.items() if v not in (None, ""))
        con.execute(f"ATTACH '{dsn}' AS {RECORD_STORE} (TYPE postgres, READ_ONLY)")
    else:
        raise RuntimeError(f"unsupported record store engine {db['ENGINE']}")


@contextmanager
def session(*, attach: bool = True):
    """`with session() as con:` — the record store must be committed to be seen.

    Rows written inside the caller's open transaction are invisible to the
    engine; jobs that need them pass them in with `load_rows` instead.
    """
    if attach and django_connection.in_atomic_block and django_connection.vendor == "sqlite":
        # The attached reader would not see this transaction's rows; refuse loudly.
        raise RuntimeError("engine.session(attach=True) inside a transaction; use load_rows")
    con = connect(attach=attach)
    try:
        yield con
    finally:
        con.close()


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
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM (SELECT "
                    + ", ".join(f"NULL::{v} AS {k}" for k, v in columns.items()) + ") WHERE false")
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
