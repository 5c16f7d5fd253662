import gc
import logging
import os

from celery import Celery
from celery.signals import task_prerun, worker_before_create_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("outeai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class _QuietSweep(logging.Filter):
    """The sweeps run every 10 and 30 s; their routine lines (sent, received, succeeded) would bury
    the worker's log. Their warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return record.levelno > logging.INFO or ("generations_sweep" not in message and "fits_sweep" not in message)


for _name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_name).addFilter(_QuietSweep())


@task_prerun.connect
def _database_connections_fresh(**kwargs) -> None:
    """What Django does around each request, around each task: a connection that broke or is past
    CONN_MAX_AGE is closed (given back, with a pool) before the task runs."""
    from django.db import close_old_connections

    close_old_connections()


@worker_before_create_process.connect
def _parent_objects_frozen(**kwargs) -> None:
    """In the worker's parent, before the pool forks a child: what the parent holds leaves the
    garbage collector's care, so a child's collections never write to those objects' pages (which
    would copy them into the child: docs/performance.md, "Memory (issue 18)")."""
    gc.collect()
    gc.freeze()
