"""Logger and Metrics defined once; every function's entry point decorates with these.

Inside Lambda the logger writes Powertools' JSON lines and Metrics prints EMF lines for CloudWatch. Elsewhere (`make
serve`, the tests) the same log records read as one line each, `12:00:01.234 INFO request method=GET ...`, and no EMF
is printed. LOG_LEVEL (or POWERTOOLS_LOG_LEVEL) sets the level, INFO by default.

The keys a request or a queue record adds go through `logger.thread_safe_append_keys`: they belong to its thread and
end with its invocation. Locally one process runs the HTTP app and every queue worker, each on threads of its own,
around this one logger; keys appended with `append_keys` would go on every later line of all of them.
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


# Keys that only make sense to CloudWatch Logs Insights; a terminal reader has them in the line's shape already.
_NOT_SHOWN_LOCALLY = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "sampling_rate",
    "exception",
    "exception_name",
    "exception_notes",
    "stack_trace",
}

# A request's or a job's own facts lead its line, whatever keys the invocation appended before.
_SHOWN_FIRST = ("method", "path", "status", "queue", "outcome", "attempt", "ms")


def readable_line(log: dict[str, Any]) -> str:
    """One log record as a terminal line: time, level, message, then its keys as key=value; a traceback follows."""
    shown = [key for key in log if key not in _NOT_SHOWN_LOCALLY]
    ordered = [key for key in _SHOWN_FIRST if key in log] + [key for key in shown if key not in _SHOWN_FIRST]
    keys = "".join(f" {key}={log[key]}" for key in ordered)
    line = f"{log.get('timestamp', '')} {log.get('level', ''):<5} {log.get('message', '')}{keys}"
    if log.get("exception"):
        line += "\n" + str(log["exception"])
    return line


class _EmfInsideLambdaOnly(AmazonCloudWatchEMFProvider):
    """EMF lines are CloudWatch's input: printed inside Lambda only, and not at all for an invocation that counted
    nothing (Powertools would warn about that on every such call)."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        if in_lambda():  # it prints a batch by itself every 100 values
            super().add_metric(*args, **kwargs)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if self.metric_set and in_lambda():
            super().flush_metrics(raise_on_empty_metrics)
        else:
            self.clear_metrics()


if in_lambda():
    logger = Logger(service="agentctx")
else:
    logger = Logger(service="agentctx", json_serializer=readable_line, datefmt="%H:%M:%S.%F")

metrics = Metrics(namespace="AgentContext", service="agentctx")
metrics.provider = _EmfInsideLambdaOnly(
    namespace="AgentContext",
    service="agentctx",
    metric_set=metrics.metric_set,
    dimension_set=metrics.dimension_set,
    metadata_set=metrics.metadata_set,
    default_dimensions=metrics.default_dimensions,
)
