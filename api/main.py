"""The ASGI entry point for uvicorn: `uvicorn api.main:app` (what `mandate serve` runs, in
each worker process): its logs as MANDATE_LOG_FORMAT says (core.logs), then the app."""

from api.app import create_app
from core import logs
from core.settings import get_settings

logs.configure(get_settings().log_format or "console")
app = create_app()
