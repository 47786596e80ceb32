"""Token counting with tiktoken, offline.

tiktoken fetches its BPE rank files from the internet and caches them in TIKTOKEN_CACHE_DIR under the sha1 of
their URL, checking each against the sha256 it publishes. Lambda and these machines have no internet, so the
rank files ship gzipped in this package; on first use they are unpacked into that cache, and tiktoken's own
hash check then guards them. The encoding is built once per container, on first use, not at import.
"""

import gzip
import hashlib
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

_DATA = Path(__file__).parent / "tokenizer_data"
_RANK_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
SUPPORTED_ENCODINGS = ("o200k_base", "cl100k_base")
_lock = threading.Lock()


def _cache_dir() -> str:
    return os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(tempfile.gettempdir(), "agentctx-tiktoken"))


def _unpack_rank_file(name: str) -> None:
    cache_dir = _cache_dir()
    target = os.path.join(cache_dir, hashlib.sha1(_RANK_URL.format(name=name).encode()).hexdigest())
    if os.path.exists(target):
        return
    os.makedirs(cache_dir, exist_ok=True)
    partial = f"{target}.{os.getpid()}.tmp"
    with gzip.open(_DATA / f"{name}.tiktoken.gz", "rb") as source, open(partial, "wb") as sink:
        sink.write(source.read())
    os.replace(partial, target)


@lru_cache(maxsize=len(SUPPORTED_ENCODINGS))
def get_encoding(name: str) -> "tiktoken.Encoding":
    if name not in SUPPORTED_ENCODINGS:
        raise ValueError(f"unsupported encoding {name!r}; use one of {', '.join(SUPPORTED_ENCODINGS)}")
    import tiktoken

    with _lock:
        _unpack_rank_file(name)
        return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    # disallowed_special=() counts "<|endoftext|>" typed by a user as ordinary text instead of raising.
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
