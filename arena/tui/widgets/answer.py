"""One side of a battle: a streaming Markdown answer with its own scroll and live stats.

Model output is untrusted. It reaches the Markdown widget only after
:func:`arena.safety.printable` (escape sequences and control characters shown, not
obeyed); Markdown is parsed as Markdown, never as Rich markup; and the view keeps at most
``MAX_VIEW_CHARS`` so a runaway answer cannot freeze the screen (the stored answer is
complete).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from arena.safety import printable

MAX_VIEW_CHARS = 200_000
FLUSH_S = 0.05


class AnswerPane(Vertical):
    """Title, streaming answer, stats line. State shows through CSS classes:
    ``-streaming``, ``-done``, ``-failed``, ``-revealed``, ``-winner``."""

    def __init__(self, side: str, *, clock: Callable[[], float] = time.perf_counter,
                 id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="answer")
        self.side = side
        self.clock = clock
        self._text: list[str] = []
        self._shown = 0
        self._pending: list[str] = []
        self._started: float | None = None
        self._first: float | None = None
        self._tokens = 0
        self._truncated = False

    def compose(self) -> ComposeResult:
        yield Static(f"Model {self.side.upper()}", classes="answer-title", markup=False)
        with VerticalScroll(classes="answer-scroll"):
            yield Markdown("", classes="answer-body")
        yield Static("waiting…", classes="answer-stats", markup=False)

    def on_mount(self) -> None:
        self.set_timer(FLUSH_S, self._tick)

    async def _tick(self) -> None:
        """Flush, then wait several times as long as the flush took before the next one, so
        that re-rendering a long growing answer never keeps the UI from its keys."""
        started = time.perf_counter()
        await self._flush()
        cost = time.perf_counter() - started
        self.set_timer(max(FLUSH_S, 4 * cost), self._tick)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def finished(self) -> bool:
        return self.has_class("-done") or self.has_class("-failed")

    def reset(self) -> None:
        self._text.clear()
        self._pending.clear()
        self._shown, self._tokens, self._truncated = 0, 0, False
        self._started, self._first = self.clock(), None
        self.remove_class("-done", "-failed", "-revealed", "-winner")
        self.add_class("-streaming")
        self.query_one(".answer-title", Static).update(f"Model {self.side.upper()}")
        self.query_one(".answer-body", Markdown).update("")
        self.query_one(".answer-stats", Static).update("waiting for the first token…")

    def append(self, chunk: str) -> None:
        if self._first is None:
            self._first = self.clock()
        self._text.append(chunk)
        self._tokens += max(1, len(chunk) // 4)
        room = MAX_VIEW_CHARS - self._shown
        if room > 0:
            piece = printable(chunk[:room])
            self._pending.append(piece)
            self._shown += min(len(chunk), room)
        elif not self._truncated:
            self._truncated = True
            self._pending.append("\n\n*(the rest of this long answer is stored, not shown)*\n")

    def restart(self) -> None:
        """A retry began: drop what was shown."""
        self._text.clear()
        self._pending.clear()
        self._shown = 0
        self.query_one(".answer-body", Markdown).update("")

    async def _flush(self) -> None:
        if self._pending:
            body = self.query_one(".answer-body", Markdown)
            fragment = "".join(self._pending)
            self._pending.clear()
            await body.append(fragment)
            scroll = self.query_one(".answer-scroll", VerticalScroll)
            if scroll.scroll_y >= scroll.max_scroll_y - 2:
                scroll.scroll_end(animate=False)
        if self.has_class("-streaming"):
            self._update_stats()

    def _update_stats(self, tokens: int | None = None, note: str = "") -> None:
        now = self.clock()
        t0 = self._started or now
        n = tokens if tokens is not None else self._tokens
        ttft = "–" if self._first is None else f"{self._first - t0:.2f} s"
        span = (now - self._first) if self._first else 0.0
        rate = f"{n / span:.0f} tok/s" if span > 0.05 else "– tok/s"
        self.query_one(".answer-stats", Static).update(
            f"{n} tokens · {rate} · first token {ttft}{note}")

    def finish(self, completion_tokens: int) -> None:
        self.call_later(self._flush)
        self.remove_class("-streaming")
        self.add_class("-done")
        self._update_stats(completion_tokens, " · done")

    def fail(self, error: str) -> None:
        self.call_later(self._flush)
        self.remove_class("-streaming")
        self.add_class("-failed")
        self.query_one(".answer-stats", Static).update(printable(f"failed: {error}"))

    def reveal(self, label: str, winner: bool) -> None:
        self.add_class("-revealed")
        if winner:
            self.add_class("-winner")
        self.query_one(".answer-title", Static).update(printable(label))
