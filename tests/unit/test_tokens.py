import pytest

from agentctx import tokens


def test_counts_match_the_published_o200k_and_cl100k_encodings():
    # Reference counts from OpenAI's tokenizer for these strings.
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("hello world", "cl100k_base") == 2
    assert tokens.count_tokens("") == 0


def test_special_token_text_is_counted_not_refused():
    assert tokens.count_tokens("<|endoftext|>") > 1


def test_encoding_is_built_once_per_process():
    assert tokens.get_encoding("o200k_base") is tokens.get_encoding("o200k_base")


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="unsupported encoding"):
        tokens.get_encoding("p50k_base")


def test_rank_files_load_offline_into_an_empty_cache(tmp_path):
    """A fresh container: nothing cached, no network (a dead proxy); the shipped files must suffice."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    script = (
        "from agentctx.tokens import count_tokens; "
        "print(count_tokens('hello world'), count_tokens('hi', 'cl100k_base'))"
    )

    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "1"]
