"""The lock files agree with pyproject.toml and with each other.

`make lock` generates them with pip-compile: requirements.txt (runtime, also copied to
cloud/workers/requirements.txt, where hosts' Dockerfiles look) and requirements-dev.txt
(runtime + dev, constrained by requirements.txt). These tests catch a hand edit, a
forgotten `make lock` after changing pyproject.toml, and test tools leaking into runtime.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "requirements.txt"
RUNTIME_COPY = ROOT / "cloud" / "workers" / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"
RELOCK = "run `make lock` (it writes requirements.txt, its copy in cloud/workers/ and requirements-dev.txt)"


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def read_pins(path: Path) -> dict[str, Pin]:
    """Package name -> its `==` pin and hashes, from a pip-compile output file."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    pins: dict[str, Pin] = {}
    for line in logical:
        if line.startswith("-"):  # an option line such as `-c requirements.txt`
            continue
        spec, *hash_parts = line.split("--hash=")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line!r} is not an == pin"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = Pin(specifier.version, frozenset(h.strip() for h in hash_parts))
    return pins


def project() -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return table


def requirements(key: str) -> list[Requirement]:
    table = project()
    declared = table["dependencies"] if key == "dependencies" else table["optional-dependencies"][key]
    return [Requirement(text) for text in declared]


def assert_pinned(declared: list[Requirement], pins: dict[str, Pin], lock: str) -> None:
    missing = [str(r) for r in declared if canonicalize_name(r.name) not in pins]
    assert not missing, f"{lock} lacks {missing}: {RELOCK}"
    unsatisfied = [
        f"{r} (pinned {pins[canonicalize_name(r.name)].version})"
        for r in declared
        if not r.specifier.contains(pins[canonicalize_name(r.name)].version, prereleases=True)
    ]
    assert not unsatisfied, f"{lock} pins versions pyproject.toml excludes: {unsatisfied}: {RELOCK}"


def test_the_runtime_copy_for_hosts_is_identical() -> None:
    assert RUNTIME_COPY.read_bytes() == RUNTIME.read_bytes(), f"cloud/workers/requirements.txt differs: {RELOCK}"


def test_every_runtime_dependency_is_pinned_in_the_runtime_lock() -> None:
    assert_pinned(requirements("dependencies"), read_pins(RUNTIME), "requirements.txt")


@pytest.mark.parametrize("extra", ["test", "dev"])
def test_every_dev_and_runtime_dependency_is_pinned_in_the_dev_lock(extra: str) -> None:
    pins = read_pins(DEV)
    assert_pinned(requirements(extra), pins, "requirements-dev.txt")
    assert_pinned(requirements("dependencies"), pins, "requirements-dev.txt")


def test_dev_includes_every_test_requirement() -> None:
    dev = {str(r) for r in requirements("dev")}
    missing = [str(r) for r in requirements("test") if str(r) not in dev]
    assert not missing, f"[project.optional-dependencies] dev must repeat test's {missing}"


def test_the_dev_lock_pins_the_runtime_packages_exactly_as_the_runtime_lock() -> None:
    runtime, dev = read_pins(RUNTIME), read_pins(DEV)
    differing = [name for name, pin in runtime.items() if dev.get(name) != pin]
    assert not differing, f"requirements-dev.txt disagrees with requirements.txt on {differing}: {RELOCK}"


def test_no_test_or_dev_tool_is_installed_by_a_deployment() -> None:
    runtime = read_pins(RUNTIME)
    tools = {canonicalize_name(r.name) for r in requirements("dev")}
    leaked = sorted(tools & runtime.keys())
    assert not leaked, f"requirements.txt pins dev tools {leaked}; they belong in requirements-dev.txt only"


def test_every_pin_has_hashes() -> None:
    for path in (RUNTIME, DEV):
        unhashed = [name for name, pin in read_pins(path).items() if not pin.hashes]
        assert not unhashed, f"{path.name}: no hashes for {unhashed}: {RELOCK}"
