"""Fixtures shared by the subprocess (end-to-end) tests; the tools themselves are in `testkit`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.fake_provider import FakeProvider


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A local fake of the provider HTTP APIs on a free port of 127.0.0.1, stopped after the test."""
    with FakeProvider().running() as fake:
        yield fake
