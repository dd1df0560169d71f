"""The HTTP front end: ``/v1/ask``, the OpenAI-compatible facade, Dify's ``/retrieval``, the
conversations kept across workers, and ``askdb serve``.

The LLM backends and extraction used to live here and moved to ``askdb.llm``; the old module
paths (``askdb.serving.base``, ``askdb.serving.ollama_backend``, ...) still import for this
release with a ``DeprecationWarning``.
"""
