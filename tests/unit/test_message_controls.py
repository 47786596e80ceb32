"""A message's Everruns `controls` as its turn applies them to the model."""

from agentctx.domain import Model, Provider
from agentctx.services.catalog import with_controls

MODEL = Model("org_x", "a" * 32, "m", Provider.OFFLINE, "offline-1", 10_000, 1_000, {"top_p": 0.9}, "t", "t")


def test_max_tokens_lowers_the_output_limit_but_never_raises_it():
    assert with_controls(MODEL, {"max_tokens": 200}).max_output_tokens == 200
    assert with_controls(MODEL, {"max_tokens": 5_000}).max_output_tokens == 1_000


def test_temperature_joins_the_model_options_for_that_turn_only():
    turned = with_controls(MODEL, {"temperature": 0.3})
    assert turned.options == {"top_p": 0.9, "temperature": 0.3}
    assert MODEL.options == {"top_p": 0.9} and with_controls(MODEL, {}) == MODEL
