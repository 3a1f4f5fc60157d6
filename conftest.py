"""Settings shared by every test directory of the repository."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# CI machines have 2 cores and may be busy: no deadline per example, fewer
# examples than locally unless asked for more.
settings.register_profile("ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)
