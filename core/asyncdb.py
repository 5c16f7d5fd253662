"""Database work from async code."""

import functools

from asgiref.sync import sync_to_async
from django.db import connection


def db_work(func):
    """`func` (sync, touching the database) as a coroutine function, which hands its database
    connection back when it returns: the async code around it may wait for seconds (a stream, the
    engine), and must not hold a connection of the pool meanwhile."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            if connection.settings_dict.get("OPTIONS", {}).get("pool"):
                connection.close()  # with a pool, closing is giving back

    return sync_to_async(run)
