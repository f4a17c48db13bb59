"""A modal with a multi-line editor for typing or pasting a prompt."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea


class PromptInput(ModalScreen[str | None]):
    BINDINGS = [
        Binding("ctrl+s", "submit", "Send"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str = "Type or paste a prompt · ctrl+s: battle · esc: cancel") -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-input"):
            yield Static(self.title_text, markup=False)
            yield TextArea(id="prompt-editor", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_submit(self) -> None:
        self.dismiss(self.query_one(TextArea).text.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
