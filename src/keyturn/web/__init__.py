"""HTTP: thin endpoints that parse, call a use case, and render. Only this package imports Starlette.

By audience: ``protocol/`` (OAuth and OIDC endpoints), ``pages/`` (what a person sees),
``management/`` (the ``/api/…`` management API), ``decision/`` (authorize and forward-auth for
gateways), ``server/`` (what `keyturn serve` puts around the app). Shared: ``app`` (assembly),
``routes`` and ``routing`` (the route table), ``errors`` (the error pipeline), ``auth`` and
``client_auth`` (who is calling), ``cors`` and ``allow_origin``, ``params``, ``responses``, ``state``.
"""
