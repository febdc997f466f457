"""The import rules: a package's code imports only the tatbot packages its package.xml depends on.

The dependency graph is data, in each package.xml, where colcon orders the build by it and refuses
a cycle; this test holds the Python imports to it (a lazy import inside a function counts too).
Tests may also use their ``test_depend`` packages. The picture is in the root README ("Layout").
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent.name for p in ROOT.glob("tatbot_*/package.xml"))


def declared(package: str, kinds: tuple[str, ...]) -> set[str]:
    tree = ET.parse(ROOT / package / "package.xml")
    return {e.text.strip() for kind in kinds for e in tree.iter(kind) if e.text.strip() in PACKAGES}


def imported(files) -> dict[str, list[str]]:
    """tatbot package -> the ``file:line`` of each import of it."""
    found: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES:
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_package_is_checked():
    assert PACKAGES == [
        "tatbot_arm_driver",
        "tatbot_bringup",
        "tatbot_interfaces",
        "tatbot_recorder",
        "tatbot_vla_policy",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_code_imports_only_declared_dependencies(package):
    allowed = declared(package, ("depend", "exec_depend", "build_depend")) | {package}
    code = imported((ROOT / package).glob(f"{package}/**/*.py"))
    wrong = {dep: where for dep, where in code.items() if dep not in allowed}
    assert not wrong, f"{package} imports packages its package.xml does not depend on: {wrong}"


@pytest.mark.parametrize("package", PACKAGES)
def test_tests_import_only_declared_dependencies(package):
    allowed = declared(package, ("depend", "exec_depend", "build_depend", "test_depend")) | {package}
    wrong = {
        dep: where for dep, where in imported((ROOT / package / "test").glob("*.py")).items() if dep not in allowed
    }
    assert not wrong, f"{package}'s tests import packages its package.xml does not declare: {wrong}"


def test_the_recorder_and_the_policy_are_peers():
    """Recording and deploying share only the floors below them (bringup, the driver, interfaces)."""
    for a, b in (("tatbot_recorder", "tatbot_vla_policy"), ("tatbot_vla_policy", "tatbot_recorder")):
        assert b not in declared(a, ("depend", "exec_depend", "build_depend")), f"{a} depends on {b}"
