import pytest

from tests.factories import make_learner


@pytest.fixture
def learner(client, db):
    """A learner, signed in on `client`."""
    user = make_learner()
    client.force_login(user)
    return user
