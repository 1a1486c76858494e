"""Development scripts, not `main.py` commands: `python -m tools.dev.NAME --help`.

`make_screenshots` and `make_corpus` (the test screenshots and the report corpus),
`make_grounding_set` (the small ScreenSpot-format set), `make_ui_screenshots` (the pictures in
`docs/`), `load_server` (a load and soak test of `main.py serve`).
"""
