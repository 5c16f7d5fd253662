"""The benchmarks, run from the project's root as modules: `.venv/bin/python -m bench.stack --start`."""
