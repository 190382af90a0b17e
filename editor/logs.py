"""Logging filters (settings.LOGGING): a client's mistake is worth one line.

Django logs a request with a foreign Host (``DisallowedHost``) at ERROR with its
traceback, and a 4xx raised as an exception (``PermissionDenied``, ``BadRequest``)
at WARNING with its traceback; under Daphne, which configures the root logger,
anyone could fill the logs with 30-line tracebacks on demand.
"""

from __future__ import annotations

import logging


class ClientMistake(logging.Filter):
    """At most WARNING, and no traceback, for records about requests answered with a 4xx.

    On a handler it sees every record it is handed; on a logger only the records logged
    there. Records of ``django.security`` loggers are all 400s; others say their
    ``status_code`` (Django's ``log_response``), and a 5xx keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.security") or (status is not None and 400 <= status < 500):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
