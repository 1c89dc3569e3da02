"""The HTTP API: thin routers over core's services."""
