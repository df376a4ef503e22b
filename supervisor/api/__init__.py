"""The supervisor's local API: control, history, live events, webhooks, metrics.

It listens on a Unix domain socket in the state folder (``api.sock``, mode
0600, folder 0700), or, where that is not the choice, on 127.0.0.1 only,
with the port in ``api.port`` (see ``endpoint``).  Every request carries
``Authorization: Bearer <token>``, the token being the contents of
``<config_dir>/api-token`` (0600).  The one exception is
``POST /webhooks/{name}``: programs that fire a webhook trigger prove
themselves with that trigger's own secret (``X-Deskpilot-Secret``), so they
never hold the key to the whole API; the route is still only on the socket
(or loopback).

Modules: ``server`` (socket, uvicorn), ``endpoint`` (which transport, and how
clients find it), ``app`` (the FastAPI app),
``tokenfile`` (the token file and the socket's place), ``auth`` (the bearer
gate), ``routes_*`` (one file per area), ``deps`` (what routes share),
``models`` (request and response bodies, plain pydantic, shared with
clients), ``metrics`` (Prometheus), ``problems`` (errors → HTTP).  This
``__init__`` imports nothing, so ``supervisor.client`` never loads FastAPI
or uvicorn.
"""
