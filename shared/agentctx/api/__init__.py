"""The HTTP app: FastAPI routers that every Lambda function and the local server share."""
