"""Text embeddings for semantic search: Bedrock (Titan Text Embeddings V2), an OpenAI-compatible `/embeddings`
endpoint, or wordllama in the process (offline, no download).

Every embedder answers unit-normalised vectors of its `dimensions`, one per text in order, and raises
EmbeddingUnavailable when it cannot (for the whole batch: `bad_request` for an empty text, which callers leave
out). `similarity_floor` and `similarity_ceiling` are the cosine similarities a search maps to the semantic scores 0
and 1 (each model spreads unrelated and related texts over its own range).
"""

import http.client
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from agentctx.observability import logger
from agentctx.providers.base import EmbeddingUnavailable, ProviderError
from agentctx.providers.openai_compat import connection_to

if TYPE_CHECKING:
    from agentctx.settings import Settings

# Titan V2 takes at most 50,000 characters and 8,192 tokens of its own tokenizer; OpenAI's models 8,192 tokens.
# A block can hold 256 KB, so texts are cut: to 30,000 characters, then to 7,000 o200k tokens (o200k packs text
# denser than either model's tokenizer, hence the margin). The start of a block is what it is about.
MAX_INPUT_CHARS = 30_000
MAX_INPUT_TOKENS = 7_000
# Titan answers one text per call: a batch's calls run on this many threads (the client is thread-safe).
TITAN_CONCURRENCY = 8
# Texts per OpenAI request (its limit is 2,048 inputs and 300,000 tokens per request).
OPENAI_BATCH = 64
WORDLLAMA_DIMENSIONS = 256


class Embedder(Protocol):
    name: str
    dimensions: int
    similarity_floor: float
    similarity_ceiling: float

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def input_text(text: str) -> str:
    """The part of a text an embedding model is given: its start, within the models' input limits."""
    from agentctx.tokens import get_encoding

    text = text[:MAX_INPUT_CHARS]
    encoding = get_encoding("o200k_base")
    tokens = encoding.encode(text, disallowed_special=())
    return text if len(tokens) <= MAX_INPUT_TOKENS else encoding.decode(tokens[:MAX_INPUT_TOKENS])


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    if not norm:
        raise EmbeddingUnavailable("model_error", "the embedding model answered a zero vector")
    return [value / norm for value in vector]


def _checked(vectors: list[list[float]], count: int, dimensions: int, source: str) -> list[list[float]]:
    if len(vectors) != count or any(len(vector) != dimensions for vector in vectors):
        raise EmbeddingUnavailable(
            "model_error", f"{source} answered {len(vectors)} vectors for {count} texts, not all of {dimensions} values"
        )
    return vectors


class TitanEmbedder:
    """Amazon Titan Text Embeddings V2 through bedrock-runtime InvokeModel (IAM bedrock:InvokeModel), one text per
    call: `{"inputText", "dimensions", "normalize": true}` -> `{"embedding": [...]}`."""

    similarity_floor = 0.2
    similarity_ceiling = 0.7

    def __init__(self, client: Any, model_id: str, dimensions: int) -> None:
        self.client = client
        self.model_id = model_id
        self.dimensions = dimensions
        self.name = f"bedrock/{model_id}"

    def embed(self, texts: list[str]) -> list[list[float]]:
        if len(texts) <= 1:
            return [self._one(text) for text in texts]
        with ThreadPoolExecutor(min(TITAN_CONCURRENCY, len(texts))) as pool:
            return list(pool.map(self._one, texts))

    def _one(self, text: str) -> list[float]:
        from agentctx.providers.bedrock import provider_error

        body = {"inputText": input_text(text), "dimensions": self.dimensions, "normalize": True}
        try:
            response = self.client.invoke_model(
                modelId=self.model_id, body=json.dumps(body), contentType="application/json", accept="application/json"
            )
            vector = json.loads(response["body"].read())["embedding"]
        except ClientError as error:
            raise _unavailable(provider_error(error)) from error
        except ProviderError as refused:  # the embedded AWS refuses Bedrock's calls unless let through
            raise _unavailable(refused) from refused
        except BotoCoreError as failure:
            raise EmbeddingUnavailable("unavailable", f"Bedrock did not answer: {failure}", retryable=True) from failure
        except (ValueError, KeyError, TypeError) as malformed:
            raise EmbeddingUnavailable("model_error", "Bedrock answered no embedding") from malformed
        return _unit(_checked([vector], 1, self.dimensions, "Bedrock")[0])


def _unavailable(error: ProviderError) -> EmbeddingUnavailable:
    return EmbeddingUnavailable(error.code, error.message, error.retryable)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint: `POST {base}/embeddings` `{"model", "input": [...], "dimensions"}`.
    The endpoint and key are configuration, as for the chat provider; vectors are normalised here, since not every
    compatible server normalises them."""

    similarity_floor = 0.2
    similarity_ceiling = 0.65

    def __init__(self, base_url: str, api_key: str, model: str, dimensions: int, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.dimensions = dimensions
        self.timeout = timeout
        self.name = f"openai/{model}"

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_BATCH):
            vectors += self._batch(texts[start : start + OPENAI_BATCH])
        return vectors

    def _batch(self, texts: list[str]) -> list[list[float]]:
        connection, headers, path = connection_to(self.base_url, self.api_key, self.timeout, "application/json")
        body = {"model": self.model, "input": [input_text(text) for text in texts], "dimensions": self.dimensions}
        try:
            connection.request("POST", f"{path}/embeddings", json.dumps(body), headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as failure:
            raise EmbeddingUnavailable(
                "unavailable", f"the embeddings endpoint did not answer: {failure}", retryable=True
            ) from failure
        finally:
            connection.close()
        if response.status == 429:
            raise EmbeddingUnavailable("throttled", "the embeddings endpoint is rate limiting requests", retryable=True)
        if response.status >= 500:
            raise EmbeddingUnavailable(
                "unavailable", f"the embeddings endpoint failed with {response.status}", retryable=True
            )
        if response.status != 200:
            said = answer[:300].decode("utf-8", errors="replace")
            raise EmbeddingUnavailable("bad_request", f"the embeddings endpoint refused ({response.status}): {said}")
        try:
            data = sorted(json.loads(answer)["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as malformed:
            raise EmbeddingUnavailable("model_error", "the embeddings endpoint answered no embeddings") from malformed
        return [_unit(vector) for vector in _checked(vectors, len(texts), self.dimensions, "the embeddings endpoint")]


class LocalEmbedder:
    """wordllama's 256-dimension model, loaded from the files its package ships (no download, no network)."""

    name = "local/wordllama-l2-256"
    dimensions = WORDLLAMA_DIMENSIONS
    similarity_floor = 0.25
    similarity_ceiling = 0.75

    def __init__(self, model: Any) -> None:
        self.model = model

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            vectors = self.model.embed([input_text(text) for text in texts], norm=True)
        if not np.isfinite(vectors).all():  # an empty text: wordllama divides a zero vector by its norm
            raise EmbeddingUnavailable("bad_request", "an empty text has no embedding")
        embedded: list[list[float]] = vectors.tolist()
        return embedded


_wordllama_lock = threading.Lock()
_wordllama: list[Any] = []  # the model once loaded, or None once it could not be


def load_wordllama() -> Any | None:
    """The wordllama model, loaded once per process (~0.3 s import, ~0.2 s load); None when it cannot load.

    `disable_download` alone looks for the tokenizer in a cache folder of its own and fails; the package folder
    holds both the weights and the tokenizer config, so it is given as the cache."""
    with _wordllama_lock:
        if not _wordllama:
            try:
                import wordllama
                from wordllama import WordLlama

                folder = Path(wordllama.__file__).parent
                _wordllama.append(WordLlama.load(cache_dir=folder, disable_download=True))
            except Exception as error:  # noqa: BLE001 - an optional model: any failure means lexical search only
                logger.warning(
                    "the local embedding model cannot load; search is lexical only", extra={"error": repr(error)}
                )
                _wordllama.append(None)
        return _wordllama[0]


def embedder_for(settings: "Settings") -> Embedder | None:
    """The embedder the settings name, or None (search is then lexical only): `none`, an OpenAI-compatible provider
    without an endpoint, or a local model that cannot load or cannot give the dimensions the index is made for."""
    provider = settings.embedding_provider
    if provider == "bedrock":
        from agentctx.providers.bedrock import bedrock_client

        client = bedrock_client(settings.bedrock_region)
        return TitanEmbedder(client, settings.embedding_model_id, settings.embedding_dimensions)
    if provider == "openai":
        if not settings.openai_base_url:
            logger.warning("EMBEDDING_PROVIDER is openai but OPENAI_BASE_URL is empty; search is lexical only")
            return None
        return OpenAIEmbedder(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.embedding_model_id,
            settings.embedding_dimensions,
        )
    if provider == "local":
        if settings.embedding_dimensions != WORDLLAMA_DIMENSIONS:
            logger.warning(
                "the local embedding model gives 256 dimensions, not EMBEDDING_DIMENSIONS; search is lexical only",
                extra={"embedding_dimensions": settings.embedding_dimensions},
            )
            return None
        model = load_wordllama()
        return LocalEmbedder(model) if model is not None else None
    if provider == "none":
        return None
    raise ValueError(f"EMBEDDING_PROVIDER must be one of bedrock, openai, local, none, not {provider!r}")
