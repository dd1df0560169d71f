"""askdb inside LangChain and LlamaIndex: its retriever, tools and query engine as theirs.

``askdb.integrations.langchain`` needs ``pip install 'askdb[langchain]'``,
``askdb.integrations.llamaindex`` needs ``pip install 'askdb[llamaindex]'``. Every tool goes
through the same ``AssistantService`` the HTTP API uses: the guard, the read-only runner, the
audit log. (The other direction, their chat models as askdb backends, lives in
``askdb.llm.langchain_backend`` and ``askdb.llm.llamaindex_backend``.)
"""
