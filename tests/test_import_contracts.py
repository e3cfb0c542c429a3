"""The dependency directions of README's layout are import-linter contracts, checked on every run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
TEACHING_CORE = {
    "helpers.keys",
    "helpers.settings",
    "helpers.masking",
    "helpers.client",
    "helpers.errors",
    "helpers.sse",
    "helpers.responses",
    "helpers.display",
    "helpers.trust",
    "helpers.events",
}
WIDGETS = {"helpers.widgets", "ipywidgets"}
# Each rule: (who, what it must not import). Together they are README's layout.
RULES = {
    "the sandbox imports nothing from helpers": ({"perplexity_sandbox"}, {"helpers"}),
    "the teaching core imports no widgets, no sandbox, no classroom tooling": (
        TEACHING_CORE,
        WIDGETS | {"perplexity_sandbox", "helpers.progress", "helpers.classroom"},
    ),
    "the connector imports no widgets": ({"helpers.connector", "helpers.curl_import", "helpers.exports"}, WIDGETS),
}


def lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages in ``folder``, with the contracts of its pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=folder,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(folder), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_of_the_layout_is_a_contract(rule: str) -> None:
    """Deleting or narrowing a contract fails here: every module named is still forbidden everything named."""
    sources, forbidden = RULES[rule]
    covered = [
        contract
        for contract in contracts()
        if contract["type"] == "forbidden"
        and sources <= set(contract["source_modules"])
        and forbidden <= set(contract["forbidden_modules"])
        and not contract.get("allow_indirect_imports")
        and not contract.get("ignore_imports")
    ]
    assert covered, f"no import-linter contract in pyproject.toml says: {rule}"


def test_the_code_keeps_every_contract() -> None:
    checked = lint_imports(ROOT)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in checked.stdout


def test_a_lazy_import_of_the_classroom_in_the_core_breaks_a_contract(tmp_path: Path) -> None:
    """The check sees an import inside a function too: moving it there is no way around the rule."""
    for package in ("helpers", "perplexity_sandbox"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "helpers" / "events.py").open("a") as events:
        events.write("\n\ndef _report() -> None:\n    from helpers.progress import report_progress  # noqa\n")
    checked = lint_imports(tmp_path)
    assert checked.returncode == 1
    assert "helpers.events is not allowed to import helpers.progress" in checked.stdout
