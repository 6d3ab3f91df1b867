import pytest

from assistant.tests.fake_llm import FakeLLMServer


@pytest.fixture
def fake_llm():
    """The three providers' chat endpoints on one local port (see fake_llm.py)."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def assistant_on(settings):
    """The test settings switch the assistant off for the other apps' tests."""
    settings.ASSISTANT_ENABLED = True
