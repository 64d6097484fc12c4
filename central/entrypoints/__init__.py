"""Entry points, kept thin: the FastAPI API, the supervised MQTT consumer, the CLI."""
