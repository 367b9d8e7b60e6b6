"""Is a package usable? Found by its metadata (cheap, the default) or imported for real (deep).

The default check reads the installed version and asks the import system where the module
lives (`importlib.util.find_spec`), which executes none of the package's code: no SDK,
numpy or scipy is loaded, so a check costs milliseconds and stays far inside the host's
10 s timeout on a loaded machine. What it cannot see is a package that is installed but
broken (a compiled part that fails to load); the deep check finds that by importing each
package in its own subprocess, one per core at a time, within one deadline. A package this
process has already imported (pydantic) is reported as imported either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Literal

from common.health.needs import Need

CheckedBy = Literal["import", "metadata", "missing"]

# Run as `python -P -c ... <module>`: imports the module, prints one JSON line saying how it went.
_IMPORT_ONE = (
    "import importlib, json, sys\n"
    "try:\n"
    "    importlib.import_module(sys.argv[1])\n"
    "except BaseException as exc:\n"
    "    out = {'ok': False, 'error': f'{type(exc).__name__}: {exc}'}\n"
    "else:\n"
    "    out = {'ok': True}\n"
    "sys.stdout.write(json.dumps(out) + '\\n')\n"
)


@dataclass(frozen=True)
class PackageResult:
    version: str | None
    checked_by: CheckedBy
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.checked_by != "missing"


def installed_version(distribution: str) -> str | None:
    """The `Version:` header of the installed metadata.

    Read from the header lines directly: `importlib.metadata.version` parses the whole
    file as an email message (pydantic's runs to 140 kB), ~5x the cost over 13 packages.
    """
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for line in (found.read_text("METADATA") or "").splitlines():
        if not line:  # the headers end at the first blank line
            break
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip() or None
    return found.version  # metadata without a plain Version header: let the parser find it


def by_metadata(need: Need) -> PackageResult:
    """Version from the metadata, module location from the import system; nothing is imported."""
    version = installed_version(need.distribution)
    module = need.package.module
    if module in sys.modules or need.import_name in sys.modules:
        return PackageResult(version, "import")  # this process runs on it: it imports
    try:
        # For a dotted name the parent is imported (`google`, a namespace package: no code).
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return PackageResult(None, "missing", "not installed")
    if version is None and spec.origin is None:  # a bare folder on sys.path, no installed package
        return PackageResult(None, "missing", "not installed")
    return PackageResult(version, "metadata")


async def _import_in_subprocess(module: str, slots: asyncio.Semaphore) -> PackageResult:
    """The import's outcome; a subprocess that dies importing it (a crashing extension) means unusable."""
    async with slots:
        return await _import_now(module)


async def _import_now(module: str) -> PackageResult:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # the working directory is not put on sys.path: a stray folder cannot shadow a package
        "-c",
        _IMPORT_ONE,
        module,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled at the deadline: this subprocess is ours to end
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return PackageResult(None, "missing", f"importing {module} ended the process (exit {proc.returncode})")
    if answer.get("ok") is True:
        return PackageResult(None, "import")
    return PackageResult(None, "missing", str(answer.get("error")))


async def by_import(needs: tuple[Need, ...], timeout_s: float) -> tuple[dict[str, PackageResult], list[str]]:
    """Each package imported in its own subprocess, one per core at a time, within `timeout_s`.

    Returns the result of every package whose import finished, and the distributions whose
    import did not finish in time (for those, the caller keeps what the metadata said).
    More subprocesses than cores would not finish sooner in total, and on a loaded machine
    they would all finish late together: one per core, the finished ones are known at the deadline.
    """
    results: dict[str, PackageResult] = {}
    pending: dict[asyncio.Task[PackageResult], Need] = {}
    slots = asyncio.Semaphore(max(2, os.cpu_count() or 1))
    # The SDKs first: the slowest imports (1-3 s each), and the ones probes depend on.
    for need in sorted(needs, key=lambda need: not need.providers):
        if need.import_name in sys.modules:
            results[need.distribution] = PackageResult(installed_version(need.distribution), "import")
        else:
            pending[asyncio.ensure_future(_import_in_subprocess(need.import_name, slots))] = need
    unfinished: list[str] = []
    if pending:
        _, not_done = await asyncio.wait(pending, timeout=timeout_s)
        for task in not_done:
            task.cancel()
        if not_done:
            await asyncio.gather(*not_done, return_exceptions=True)  # each kills its subprocess
        for task, need in pending.items():
            if task in not_done or task.cancelled():
                unfinished.append(need.distribution)
                continue
            if task.exception() is not None:  # no subprocess could be started: the import did not run
                unfinished.append(need.distribution)
                continue
            outcome = task.result()
            results[need.distribution] = PackageResult(
                installed_version(need.distribution), outcome.checked_by, outcome.error
            )
    return results, unfinished
