"""What the web and the workers import as they start (issue 18: each process <= 120 MB). numpy,
PyAV, the stripe library and the engine's synthesis each add 20-30 MiB to every process that
imports them, and only some requests (an encoded format, a payment) or other processes (the
engine, the fitter) need them, so none of them is imported at start."""

import subprocess
import sys

from harness.processes import ROOT, stack_env

# As the web (config.asgi, its URLs) and a worker's parent (the Celery app, its tasks) start, and
# the modules a worker's job then runs in every prefork child.
START = """
import sys
import django
django.setup()
import config.asgi, config.urls
from config.celery import app
app.loader.import_default_modules()
import studio.job.run, studio.job.sweep, studio.job.end
print(" ".join(sorted(sys.modules)))
"""
NEVER_AT_START = {"numpy", "av", "stripe", "onnxruntime", "pocketsphinx", "soxr", "pydub", "pyworld", "piper", "torch"}
# The engine's client side (docs/architecture.md); what synthesises stays out.
ENGINE_AT_START = {"engine", "engine.client", "engine.pool", "engine.protocol", "engine.languages", "engine.profiles"}


def test_the_web_and_the_workers_start_without_the_heavy_libraries():
    run = subprocess.run(
        [sys.executable, "-c", START],
        cwd=ROOT,
        env=stack_env(DJANGO_SETTINGS_MODULE="config.settings.base"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    modules = set(run.stdout.split())
    assert "config.asgi" in modules and "studio.job.run" in modules
    assert {m.split(".")[0] for m in modules} & NEVER_AT_START == set()
    assert {m for m in modules if m.split(".")[0] == "engine"} <= ENGINE_AT_START
