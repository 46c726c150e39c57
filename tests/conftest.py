"""Fixtures and Hypothesis profiles shared by the test modules (helper
functions live in ``_helpers.py``: they are needed at collection time)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, settings


@pytest.fixture
def tapegrad_log(caplog: pytest.LogCaptureFixture):
    """caplog for the ``tapegrad`` logger (which does not propagate to root)."""
    logger = logging.getLogger("tapegrad")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="tapegrad"):
            yield caplog
    finally:
        logger.removeHandler(caplog.handler)


# Hypothesis profiles for tests/test_fuzz.py: "ci" is the default (bounded);
# `--hypothesis-profile=long` runs 25,000 examples per property.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "long", max_examples=25_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("ci")
