"""The invoke function's app: FastAPI under uvicorn, behind the Lambda Web Adapter in response-stream mode.

Mangum buffers whole responses, so this function runs the app as a web server instead; the adapter turns
API Gateway (REST, response streaming) and Function URL (RESPONSE_STREAM) invocations into HTTP requests and
streams the Server-Sent Events back as they are written: invocations, and a session's event log
(`/v1/sessions/{id}/sse`). No authorizer context reaches the app this way, so the app checks the API key itself.
"""

from agentctx.api.app import create_app
from agentctx.api.routers import health, invoke, runtime_stream

app = create_app(health.router, invoke.router, runtime_stream.router)
