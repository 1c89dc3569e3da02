"""The web console: server-rendered pages over the same core services as the API."""
