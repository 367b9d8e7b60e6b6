"""Environment variables are read in two modules only (CLAUDE.md, Conventions).

`io/environment.py` reads the worker's own (`PROBE_*`, `TIKTOKEN_CACHE_DIR`) and
`providers/settings.py` the providers' (named by their records); `io/redaction.py` looks at
every secret-named variable's value only to scrub it from what leaves the process. A read
anywhere else is a setting the docs and the one table of variables do not know about.
"""

from __future__ import annotations

import ast
from pathlib import Path

WORKERS = Path(__file__).resolve().parents[1]
READERS = frozenset({"common/io/environment.py", "common/providers/settings.py", "common/io/redaction.py"})
_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv"})


def _environment_uses(path: Path) -> list[int]:
    """Lines that touch the process environment: `os.environ`, `os.getenv`, `os.putenv` or their imports."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Attribute) and node.attr in _NAMES) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in _NAMES for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


def _sources() -> list[Path]:
    """The entry scripts and `common/` (conftest.py is the tests')."""
    scripts = [path for path in sorted(WORKERS.glob("*.py")) if path.name != "conftest.py"]
    return [*scripts, *sorted((WORKERS / "common").rglob("*.py"))]


def test_only_the_two_settings_modules_and_redaction_read_the_environment() -> None:
    found = [
        f"{path.relative_to(WORKERS)}:{line}"
        for path in _sources()
        if str(path.relative_to(WORKERS)) not in READERS
        for line in _environment_uses(path)
    ]
    assert not found, "environment reads outside io/environment.py and providers/settings.py:\n" + "\n".join(found)


def test_the_check_sees_an_environment_read(tmp_path: Path) -> None:
    source = tmp_path / "reads.py"
    source.write_text("import os\nfrom os import getenv\nX = os.environ.get('PROBE_X')\n")
    assert _environment_uses(source) == [2, 3]
