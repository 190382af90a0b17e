"""Where synchronous database work runs when called from async code."""

from channels.db import DatabaseSyncToAsync


def in_thread_pool(function):
    """Run database work in the event loop's thread pool rather than asgiref's single thread.

    Edits to different documents, and sessions' bookkeeping, then overlap
    while one of them waits on the database; each thread has its own
    connection (closed or kept as CONN_MAX_AGE says, before and after).
    """
    return DatabaseSyncToAsync(function, thread_sensitive=False)
