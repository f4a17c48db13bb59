"""Every key binding of the app and of the screen underneath, with its description."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

NAMES = {"question_mark": "?", "escape": "esc", "left_square_bracket": "[", "right_square_bracket": "]"}


def _key(b: Binding) -> str:
    return b.key_display or ", ".join(NAMES.get(k, k) for k in b.key.split(","))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        lines = [f"Keys · {type(self.under).__name__.replace('Screen', '')}", ""]
        for b in list(getattr(self.under, "BINDINGS", [])) + list(self.app.BINDINGS):
            if isinstance(b, Binding) and b.description:
                lines.append(f"  {_key(b):<10} {b.description}")
        lines += ["", "esc, ? or q closes this help"]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines), markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
