"""The bridge to MTEB: any artifact as an MTEB model, and the workbench's evaluation sets as MTEB tasks.

`encoder`, `tasks` and `model` import mteb (8 s here), so only code that asks for the bridge pays for it; `rows`
(what results.json holds) and `step` (study 03's step, which imports mteb in its child) do not.
"""
