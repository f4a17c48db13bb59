"""Model backends behind one streaming protocol (see :mod:`arena.providers.base`)."""
