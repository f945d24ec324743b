"""Chat handlers: one neutral message in, replies out (``handlers.core.handle``). No chat SDK is
imported here; channels call ``handle`` and render the replies."""
