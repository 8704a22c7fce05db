"""HTTP: thin endpoints that parse, call a use case, and render. Only this package imports Starlette."""
