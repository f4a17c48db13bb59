"""The Textual front end: thin screens over :mod:`arena.services`."""
