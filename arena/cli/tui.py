"""Opening the TUI from the command line (``arena`` and ``arena demo``)."""

from __future__ import annotations

from arena.services.context import Context

ADD_MODELS = ("showing the demo pack's sample models (recorded answers): add real models in "
              "arena.toml (see the README) to battle them")


def open_tui(ctx: Context, *, prompt_set: str | None = None, category: str | None = None,
             language: str | None = None, demo: bool = False) -> None:
    from arena.services.prompts import DEMO_SET, ensure_demo_pack
    from arena.tui.app import make_app

    notice = None
    configured = [m for m in ctx.config.models
                  if m not in {j.model for j in ctx.config.judges.values()}]
    if demo or len(configured) < 2:
        ensure_demo_pack(ctx.store)
        prompt_set = prompt_set or DEMO_SET
        notice = ADD_MODELS if not demo else "demo: the sample models are recorded answers; your votes go to a throwaway database"
    elif prompt_set is None:
        sets = ctx.store.list_sets()
        prompt_set = sets[0].name if sets else None
    app = make_app(ctx.store, ctx.config, voter=ctx.settings.voter, prompt_set=prompt_set,
                   notice=notice, category=category, language=language)
    app.run()
