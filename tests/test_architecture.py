"""The layers' contracts (pyproject.toml [tool.importlinter]) fail the build when one import goes
against them: each case copies the project's packages, adds one import and runs `lint-imports`."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import ROOT

PACKAGES = ["config", "api", "studio", "voices", "accounts", "billing", "core", "engine", "strictenv"]
LAYERS = "Layers: config > api > studio > voices > accounts > billing > core"
ENGINE_ALONE = "The engine stands alone: no Django, no app, only strictenv"
STRICTENV = "strictenv imports nothing of the project"

# (file, the import added at its end, the contract it breaks, the chain lint-imports names)
AGAINST_THE_LAYERS = [
    ("core/text.py", "import studio", LAYERS, "core.text -> studio"),
    # Lazy imports count too: the app below may not import the one above even inside a function.
    ("billing/models.py", "def _owner():\n    import accounts\n", LAYERS, "billing.models -> accounts"),
    ("engine/protocol.py", "import django", ENGINE_ALONE, "engine.protocol -> django"),
    ("engine/protocol.py", "import core.text", ENGINE_ALONE, "engine.protocol -> core.text"),
    ("strictenv/__init__.py", "import core", STRICTENV, "strictenv -> core"),
]


def lint_imports(root: Path) -> tuple[int, str]:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.returncode, run.stdout + run.stderr


def contract_result(output: str, contract: str) -> str:
    found = re.search(rf"^{re.escape(contract)} (KEPT|BROKEN)$", output, re.MULTILINE)
    assert found, f"lint-imports did not check {contract!r}:\n{output}"
    return found.group(1)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("path", "line", "contract", "chain"), AGAINST_THE_LAYERS, ids=[c[0] for c in AGAINST_THE_LAYERS]
)
def test_one_import_against_the_layers_breaks_its_contract(project_copy: Path, path, line, contract, chain):
    _, untouched = lint_imports(project_copy)
    assert contract_result(untouched, contract) == "KEPT"

    with (project_copy / path).open("a") as module:
        module.write(f"\n\n{line}\n")
    status, output = lint_imports(project_copy)

    assert status != 0, "a broken contract fails the build"
    assert contract_result(output, contract) == "BROKEN"
    assert chain in output, output
