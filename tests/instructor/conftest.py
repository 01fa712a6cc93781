import pytest

from tests.instructor.factories import make_instructor


@pytest.fixture
def instructor(client, db):
    """An instructor, signed in on `client`."""
    user = make_instructor("teacher")
    client.force_login(user)
    return user
