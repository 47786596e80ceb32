"""The embedders: wordllama offline (no network at all), Titan against the recording Bedrock endpoint, and the
OpenAI-compatible endpoint against its recording twin; each answers unit vectors in order or EmbeddingUnavailable."""

import math
import socket
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from agentctx.providers import embeddings
from agentctx.providers.base import EmbeddingUnavailable
from agentctx.providers.embeddings import (
    MAX_INPUT_CHARS,
    MAX_INPUT_TOKENS,
    LocalEmbedder,
    OpenAIEmbedder,
    TitanEmbedder,
    embedder_for,
)
from agentctx.settings import Secret, Settings
from agentctx.tokens import count_tokens
from tests.providers.loopback import Recorded, serve
from tests.providers.model_endpoints import bedrock_endpoint, openai_endpoint, text_embedding

TITAN = "amazon.titan-embed-text-v2:0"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def is_unit(vector: list[float]) -> bool:
    return math.isclose(math.sqrt(cosine(vector, vector)), 1.0, abs_tol=1e-5)


@pytest.fixture
def fresh_wordllama() -> Iterator[None]:
    """The local model loaded again by the test (it is loaded once per process)."""
    loaded = list(embeddings._wordllama)
    embeddings._wordllama.clear()
    yield
    embeddings._wordllama[:] = loaded


def test_the_local_embedder_loads_and_embeds_with_no_network(fresh_wordllama, monkeypatch):  # type: ignore[no-untyped-def]
    def no_network(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("the test allows no network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)

    embedder = embedder_for(Settings(embedding_provider="local"))
    question, paraphrase, unrelated = embedder.embed(  # type: ignore[union-attr]
        [
            "How do I reset my password?",
            "Steps to recover a forgotten account password",
            "Quarterly revenue grew by ten percent in Europe",
        ]
    )

    assert isinstance(embedder, LocalEmbedder) and embedder.dimensions == 256
    assert len(question) == 256 and all(is_unit(v) for v in (question, paraphrase, unrelated))
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.1


def test_the_local_embedder_refuses_an_empty_text_as_titan_does():
    with pytest.raises(EmbeddingUnavailable) as raised:
        embedder_for(Settings(embedding_provider="local")).embed(["some words", ""])  # type: ignore[union-attr]

    assert raised.value.code == "bad_request"


def test_the_local_model_is_loaded_once_per_process():
    first = embedder_for(Settings(embedding_provider="local"))
    second = embedder_for(Settings(embedding_provider="local"))

    assert first.model is second.model  # type: ignore[union-attr]


def test_a_local_model_that_cannot_load_leaves_search_lexical(fresh_wordllama, monkeypatch):  # type: ignore[no-untyped-def]
    import wordllama

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise FileNotFoundError("weights missing")

    monkeypatch.setattr(wordllama.WordLlama, "load", broken)

    assert embedder_for(Settings(embedding_provider="local")) is None


def test_no_embedder_for_none_or_dimensions_the_local_model_cannot_give_or_openai_without_an_endpoint():
    assert embedder_for(Settings(embedding_provider="none")) is None
    assert embedder_for(Settings(embedding_provider="local", embedding_dimensions=1024)) is None
    assert embedder_for(Settings(embedding_provider="openai", openai_base_url="")) is None
    with pytest.raises(ValueError, match="EMBEDDING_PROVIDER"):
        embedder_for(Settings(embedding_provider="cohere"))


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """The recording Bedrock endpoint as the project's Bedrock client's endpoint; yields its recorded requests."""
    from agentctx.providers.bedrock import bedrock_client

    with bedrock_endpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint.url)
        bedrock_client.cache_clear()
        yield endpoint.requests
    bedrock_client.cache_clear()


def titan(dimensions: int = 256) -> TitanEmbedder:
    embedder = embedder_for(Settings(embedding_provider="bedrock", embedding_dimensions=dimensions))
    assert isinstance(embedder, TitanEmbedder)
    return embedder


def test_titan_is_called_once_per_text_with_its_dimensions_normalised_and_answers_in_order(bedrock):  # type: ignore[no-untyped-def]
    texts = ["retry the failed deploy", "the deploy failed", "lunch menu"]

    vectors = titan(512).embed(texts)

    assert [unquote(r["path"]) for r in bedrock] == [f"/model/{TITAN}/invoke"] * 3
    assert sorted(r["body"]["inputText"] for r in bedrock) == sorted(texts)  # sent concurrently
    assert all(r["body"]["dimensions"] == 512 and r["body"]["normalize"] is True for r in bedrock)
    assert vectors == [pytest.approx(text_embedding(text, 512)) for text in texts]


def test_titan_is_sent_the_start_of_a_long_text_within_the_model_s_limits(bedrock):  # type: ignore[no-untyped-def]
    long_text = "tokens " * 20_000 + "the end"

    titan().embed([long_text])

    (sent,) = [r["body"]["inputText"] for r in bedrock]
    assert long_text.startswith(sent)
    assert len(sent) <= MAX_INPUT_CHARS and count_tokens(sent) <= MAX_INPUT_TOKENS


def test_titan_refusing_a_text_raises_embedding_unavailable_not_to_be_retried(bedrock):  # type: ignore[no-untyped-def]
    with pytest.raises(EmbeddingUnavailable) as raised:
        titan().embed([""])

    assert raised.value.code == "bad_request" and not raised.value.retryable


def test_bedrock_out_of_reach_raises_embedding_unavailable_to_be_retried(monkeypatch):  # type: ignore[no-untyped-def]
    from agentctx.providers.bedrock import bedrock_client

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://127.0.0.1:{closed.getsockname()[1]}")
    closed.close()
    bedrock_client.cache_clear()
    try:
        with pytest.raises(EmbeddingUnavailable) as raised:
            titan().embed(["anything"])
    finally:
        bedrock_client.cache_clear()

    assert raised.value.code == "unavailable" and raised.value.retryable


def openai(url: str) -> OpenAIEmbedder:
    settings = Settings(
        embedding_provider="openai",
        openai_base_url=f"{url}/v1",
        openai_api_key=Secret("sk-test"),
        embedding_model_id="text-embedding-3-small",
        embedding_dimensions=256,
    )
    embedder = embedder_for(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    return embedder


def test_openai_embeddings_are_asked_for_in_one_request_with_the_model_and_dimensions():
    texts = ["retry the failed deploy", "the deploy failed", "lunch menu"]
    with openai_endpoint() as endpoint:
        vectors = openai(endpoint.url).embed(texts)

    (request,) = endpoint.requests
    assert request["path"] == "/v1/embeddings"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"] == {"model": "text-embedding-3-small", "input": texts, "dimensions": 256}
    assert vectors == [pytest.approx(text_embedding(text, 256)) for text in texts]


def test_openai_embeddings_of_many_texts_are_asked_for_in_batches_and_answered_in_order():
    texts = [f"note number {n}" for n in range(embeddings.OPENAI_BATCH + 1)]
    with openai_endpoint() as endpoint:
        vectors = openai(endpoint.url).embed(texts)

    assert [len(r["body"]["input"]) for r in endpoint.requests] == [embeddings.OPENAI_BATCH, 1]
    assert vectors == [pytest.approx(text_embedding(text, 256)) for text in texts]


def test_openai_vectors_are_normalised_here_and_answered_by_index_order():
    body = b'{"data": [{"index": 1, "embedding": [0, 2]}, {"index": 0, "embedding": [3, 4]}]}'
    with serve([Recorded(200, {"Content-Type": "application/json"}, [body])]) as endpoint:
        vectors = OpenAIEmbedder(endpoint.url, "", "a-model", 2).embed(["first", "second"])

    assert vectors == [pytest.approx([0.6, 0.8]), pytest.approx([0.0, 1.0])]


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, "throttled", True), (503, "unavailable", True), (400, "bad_request", False)],
)
def test_an_openai_endpoint_failure_raises_embedding_unavailable(status, code, retryable):  # type: ignore[no-untyped-def]
    failing = serve([Recorded(status, {"Content-Type": "application/json"}, [b'{"error": "no"}'])])
    with failing as endpoint, pytest.raises(EmbeddingUnavailable) as raised:
        openai(endpoint.url).embed(["anything"])

    assert (raised.value.code, raised.value.retryable) == (code, retryable)
