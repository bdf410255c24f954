import pytest

from tests import factories


@pytest.fixture
def member():
    def make(org, role="agent", **fields):
        return factories.member(org, role, **fields).user

    return make
