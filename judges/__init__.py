"""Judges: one protocol, many ways of deciding which of two answers is better."""
