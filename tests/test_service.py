"""The shared assistant of a long-running front end (chat, HTTP API)."""

from __future__ import annotations

from askdb.rag.embed import SentenceTransformerEmbedder
from askdb.rag.retriever import HybridRetriever
from askdb.runtime.service import AssistantService
from askdb.testing.scripted import ScriptedFakeLLM


def test_building_the_assistant_opens_the_question_path_before_the_first_question(
    settings, demo_retrieval_parts, shared_models_dir
) -> None:
    """A cold retrieval took 9 s here (ONNX graph, word segmenter); every first question waited for it."""
    cold = SentenceTransformerEmbedder(onnx_dir=shared_models_dir)
    retriever = HybridRetriever(demo_retrieval_parts["retriever"].index, cold)
    service = AssistantService(
        settings,
        retriever=retriever,
        llm=ScriptedFakeLLM([]),
        runner=demo_retrieval_parts["runner"],
        catalog=demo_retrieval_parts["catalog"],
    )
    assert cold._onnx is None and not service.built
    assistant = service.assistant
    assert service.built and assistant.retriever is retriever
    assert cold.runtime == "onnxruntime", "the graph was opened while building, not by a question"


def test_a_retriever_that_fails_while_warming_leaves_the_error_to_the_first_question(
    settings, demo_retrieval_parts
) -> None:
    class Broken:
        def retrieve(self, question, k=5, **kwargs):
            raise RuntimeError("index unreadable")

    service = AssistantService(
        settings,
        retriever=Broken(),
        llm=ScriptedFakeLLM([]),
        runner=demo_retrieval_parts["runner"],
        catalog=demo_retrieval_parts["catalog"],
    )
    assert service.built is False
    assert isinstance(service.assistant.retriever, Broken)  # built all the same
