"""Services: the work itself. Each takes a session and ``now``; none imports a chat SDK or
the scheduler, and none commits — the caller owns the session and its transaction."""
