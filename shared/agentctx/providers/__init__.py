"""Model providers behind one port: Bedrock (deployments), OpenAI-compatible endpoints, and the offline model."""

from agentctx.domain import Model, Provider
from agentctx.providers.base import ModelProvider, ProviderError
from agentctx.settings import get_settings


def provider_for(model: Model) -> ModelProvider:
    if model.provider is Provider.OFFLINE:
        from agentctx.providers.offline import OfflineProvider

        return OfflineProvider()
    if model.provider is Provider.BEDROCK:
        from agentctx.providers.bedrock import BedrockProvider, bedrock_client

        return BedrockProvider(bedrock_client(model.options.get("region") or get_settings().bedrock_region))
    from agentctx.providers.openai_compat import OpenAICompatibleProvider

    settings = get_settings()
    if not settings.openai_base_url:
        raise ProviderError("bad_request", "no OpenAI-compatible endpoint is configured (OPENAI_BASE_URL)")
    return OpenAICompatibleProvider(settings.openai_base_url, settings.openai_api_key.get_secret_value())


__all__ = ["ModelProvider", "ProviderError", "provider_for"]
