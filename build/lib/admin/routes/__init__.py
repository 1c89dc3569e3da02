"""Console routes, one module per domain like api/routers: parse the form, call the same
core service as the API, render a page or redirect to the result."""
