"""The HTTP API under /api/v1/ (django-ninja): the Django face for scripts, bots and other services.

- ``endpoints``: the routes, thin: parse, check rights, call the parts below;
- ``callers``: who asks (a token's user, or nobody) and the Bearer scheme;
- ``tokens``: API tokens, made, found and revoked (stored hashed);
- ``writes``: HTTP edits turned into the protocol's edits, through the worker's committer;
- ``idempotency``: ``Idempotency-Key`` on every POST;
- ``problems``: every refusal as an RFC 9457 problem, its status from the protocol's code;
- ``schemas``: request and response bodies (the OpenAPI description is made from them).

May import: everything the face may (``editor.access``, ``editor.live``, ``editor.store``,
``editor.wire``, ``editor.ot``, the models and services). Nothing imports it but the URLconf.
"""
