"""Prompt-set loaders and the bundled demo pack."""
