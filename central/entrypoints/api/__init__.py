"""HTTP API of central (FastAPI): app factory, dependencies, the error handler, routers."""
