"""Fixtures of the API's tests: full rate buckets for every test, and a user with a write token."""

import pytest

from editor.api import callers

from .client import Api, amake_token, amake_user


@pytest.fixture(autouse=True)
def fresh_rates():
    """Each test starts with full buckets (they live in the process, across tests)."""
    callers.reset_rates()
    yield
    callers.reset_rates()


@pytest.fixture
async def alice():
    return await amake_user("alice")


@pytest.fixture
async def writer(alice) -> Api:
    return Api(await amake_token(alice, "write"))
