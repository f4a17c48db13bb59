"""Typer commands: parse, call a service, print. Data on stdout, diagnostics on stderr."""
