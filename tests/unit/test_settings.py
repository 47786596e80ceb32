"""Settings from the environment: typed, bounded, secrets kept out of reprs, defaults for what is not set."""

import pytest

from agentctx.settings import Secret, Settings


def test_variables_are_read_by_field_name_in_any_case_and_typed():
    settings = Settings.from_environment(
        {"MAX_AGENT_STEPS": "12", "sse_poll_seconds": "0.5", "Bedrock_Region": "eu-west-1", "CURSOR_SECRET": "s3cret"}
    )

    assert settings.max_agent_steps == 12
    assert settings.sse_poll_seconds == 0.5
    assert settings.bedrock_region == "eu-west-1"
    assert settings.cursor_secret.get_secret_value() == "s3cret"


def test_what_is_not_set_keeps_its_default():
    settings = Settings.from_environment({"PATH": "/usr/bin"})

    assert settings.max_block_bytes == 256 * 1024
    assert settings.bedrock_region is None
    assert settings.openai_api_key == Secret("")
    assert len(settings.cursor_secret.get_secret_value()) >= 32  # a random one, for a single local process


def test_an_optional_setting_given_empty_is_unset():
    """A template parameter left empty still sets its variable: BEDROCK_REGION="" means the function's own region."""
    assert Settings.from_environment({"BEDROCK_REGION": ""}).bedrock_region is None


def test_a_secret_never_shows_in_a_repr():
    settings = Settings.from_environment({"CURSOR_SECRET": "s3cret", "OPENAI_API_KEY": "sk-live"})

    assert "s3cret" not in repr(settings) and "sk-live" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_AGENT_STEPS", "51", "MAX_AGENT_STEPS must be at most 50, not 51"),
        ("MAX_BLOCK_BYTES", "10", "MAX_BLOCK_BYTES must be at least 1024, not 10"),
        ("AUTO_COMPACTION_SHARE", "0", "AUTO_COMPACTION_SHARE must be greater than 0, not 0.0"),
        ("COMPACTION_TARGET_SHARE", "1", "COMPACTION_TARGET_SHARE must be less than 1, not 1.0"),
        ("TURN_MAX_ATTEMPTS", "three", "TURN_MAX_ATTEMPTS must be a number, not 'three'"),
        ("SSE_POLL_SECONDS", "", "SSE_POLL_SECONDS must be a number, not ''"),
    ],
)
def test_a_value_of_the_wrong_type_or_out_of_bounds_names_its_variable(variable, value, message):
    with pytest.raises(ValueError) as refused:
        Settings.from_environment({variable: value})

    assert str(refused.value) == message


def test_settings_built_in_code_are_checked_too():
    with pytest.raises(ValueError, match="MAX_TOOL_CALLS must be at most 48"):
        Settings(max_tool_calls=100)


def test_allowed_origins_are_a_comma_separated_list_and_none_by_default():
    settings = Settings.from_environment({"CORS_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:5173,"})

    assert settings.cors_allowed_origins == ("https://app.example.com", "http://localhost:5173")
    assert Settings.from_environment({}).cors_allowed_origins == ()


@pytest.mark.parametrize("value", ["https://app.example.com/", "app.example.com", "https://app.example.com/path"])
def test_an_allowed_origin_that_a_browser_would_never_send_is_refused(value):
    # a browser's Origin is scheme://host[:port], nothing after: any other text would match no request, silently
    with pytest.raises(ValueError, match="CORS_ALLOWED_ORIGINS must be origins"):
        Settings.from_environment({"CORS_ALLOWED_ORIGINS": value})
