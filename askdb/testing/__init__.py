"""Fakes for tests and demos. Each one says in its name that it is a fake.

The fake servers stand at the wire: they speak Ollama's and the OpenAI-compatible protocol on
127.0.0.1, so the real client libraries (and askdb's backends) talk to them unmodified.
"""

from askdb.testing._fake_http import FakeError, FakeReply, RecordedRequest
from askdb.testing.fake_ollama import FakeOllamaServer
from askdb.testing.fake_openai import FakeOpenAIServer

__all__ = ["FakeError", "FakeOllamaServer", "FakeOpenAIServer", "FakeReply", "RecordedRequest"]
