"""Logger and Metrics defined once; every function's entry point decorates with these."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="agentctx")
metrics = Metrics(namespace="AgentContext", service="agentctx")
