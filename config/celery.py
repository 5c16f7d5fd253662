import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("outeai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _database_connections_fresh(**kwargs) -> None:
    """What Django does around each request, around each task: a connection that broke or is past
    CONN_MAX_AGE is closed (given back, with a pool) before the task runs."""
    from django.db import close_old_connections

    close_old_connections()
