"""Rating engines: pure functions of battle outcomes and explicit parameters."""
