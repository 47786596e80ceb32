"""Business rules. Typed models in and out; no HTTP, no events, no boto3."""
