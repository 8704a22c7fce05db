"""Wire shapes: what the management API, the decision API and the CLI's ``--json`` print, built once.

Use cases (``keyturn.services``) return domain records (``keyturn.core.models``); these pydantic models turn
a record into its wire shape (``CredentialOut.of(client, secret)``), and both edges use the same model:
``web`` declares it as the route's ``response_model`` (so ``/openapi.json`` documents what is sent) and
answers with it, ``cli`` prints it. Building one validates it, so an answer cannot drift from its document.

This package imports only ``keyturn.core`` and pydantic (import-linter contract ``wire``): a shape is a
function of records, never of a database, a request or the settings.

- ``common``: the time format, the error shape, :func:`plain` (a shape as JSON-ready data)
- ``credentials``: seed 000's credential and the scope catalogue
- ``accounts``: accounts, members and memberships (seed 001)
- ``api_keys``: an account's API keys (seed 001)
- ``oidc_clients``: OIDC relying parties
- ``decision``: the decision API's principal and answer
- ``keys``: the CLI's signing-key listing
- ``users``: a user just created (``keyturn users create``)
- ``tokens``: an access token the operator minted (``keyturn tokens issue``)
"""
