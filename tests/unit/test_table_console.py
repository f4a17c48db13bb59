"""Tables printed to a pipe keep their numbers: 200 columns unless COLUMNS says otherwise."""

from __future__ import annotations

import io

import pytest
from rich.table import Table

from arena.cli.common import table_console


def render(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> tuple[int, str]:
    out = io.StringIO()  # not a terminal, like `arena judges eval ... | tee log`
    monkeypatch.setattr("sys.stdout", out)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    con = table_console()
    table = Table(*(f"column {i}" for i in range(13)))
    table.add_row(*(f"{100 * i:.1f}" for i in range(13)))
    con.print(table)
    return con.width, out.getvalue()


def test_piped_tables_are_not_squeezed_to_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    width, text = render(monkeypatch, None)
    assert width == 200
    assert "…" not in text and "1200.0" in text and "column 12" in text


def test_columns_still_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    width, text = render(monkeypatch, "80")
    assert width == 80 and "…" in text  # what piped output looked like before


def test_markup_in_cells_stays_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    table_console().print("[bold red]model text[/]")
    assert "[bold red]model text[/]" in out.getvalue()
