"""Checks shared by the tests that run the ``arena`` console script."""

from __future__ import annotations

import subprocess


def assert_clean_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit code 2, exactly one ``error: ...`` line on stderr, no traceback anywhere;
    returns the line."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]
