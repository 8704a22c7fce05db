"""What `keyturn serve` puts around the app: uvicorn's protocol with one write per response, the access
log, the lean front for the hot routes, and the health check."""
