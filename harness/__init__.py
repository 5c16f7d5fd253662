"""What the test suite and the benchmarks share: starting the stack's real processes
(harness.processes). Imported from the project's root (`python -m pytest`, `python -m bench.stack`)."""
