"""The database `make run` gives the stack when DATABASE_URL is not set: the machine's PostgreSQL
(the database of record, as the tests and the bench use it) when one answers on 127.0.0.1:5432
without a password, a database `outeai` made in it if missing; else a SQLite file beside the code.

    python -m config.database_local    # prints the URL; says on stderr which it is
"""

import sys
from pathlib import Path

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_NAME = "outeai"
SQLITE_URL = f"sqlite:///{Path(__file__).resolve().parent.parent / 'db.sqlite3'}"


def database_local_url() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=2) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    except Exception as error:  # none, or one that wants a password: the SQLite file
        print(f"database: SQLite ({SQLITE_URL}); no PostgreSQL at 127.0.0.1:5432 ({error})".strip(), file=sys.stderr)
        return SQLITE_URL
    url = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
    print(f"database: the machine's PostgreSQL, {url}", file=sys.stderr)
    return url


if __name__ == "__main__":
    print(database_local_url())
