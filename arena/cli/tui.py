"""Opening the TUI from the command line (``arena`` and ``arena demo``).

Only what the first frame needs is done before the app starts; the database, migrations
and the demo pack load in the app's loader thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arena.services.context import Context
    from arena.services.live import LiveArena

ADD_MODELS = ("showing the demo pack's sample models (recorded answers): add real models in "
              "arena.toml (see the README) to battle them")


def open_tui(ctx: Context, *, prompt_set: str | None = None, category: str | None = None,
             language: str | None = None, demo: bool = False) -> None:
    from arena.tui.app import ArenaApp

    config = ctx.config
    judges = {j.model for j in config.judges.values()}
    use_demo = demo or len([m for m in config.models if m not in judges]) < 2
    notice = None
    if use_demo:
        prompt_set = prompt_set or "demo"
        notice = ("demo: the sample models are recorded answers; your votes go to a throwaway "
                  "database") if demo else ADD_MODELS

    def loader() -> LiveArena:
        from arena.services.live import LiveArena
        from arena.services.prompts import ensure_demo_pack

        store = ctx.store
        if use_demo:
            ensure_demo_pack(store)
        return LiveArena(store, config, voter=ctx.settings.voter)

    if prompt_set is None and not use_demo:
        sets = ctx.store.list_sets()
        prompt_set = sets[0].name if sets else None
    ArenaApp(loader, prompt_set=prompt_set, voter=ctx.settings.voter, notice=notice,
             category=category, language=language).run()
