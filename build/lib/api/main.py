"""The ASGI entry point for uvicorn: `uvicorn api.main:app` (what `mandate serve` runs)."""

from api.app import create_app

app = create_app()
