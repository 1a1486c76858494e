"""Product commands and the code they share; development scripts live in `tools.dev`.

Commands of `main.py`: `analyze`, `report` (+ `report_data`, `report_pages`, `report_plots`),
`eval_grounding` (+ `screenspot`, `grounding_output`), `bench_all` (+ `bench_prune`,
`bench_model`, `bench_step`, `bench_loop`, `timing`). Shared: `image_files`, `offline_models`
(random-weight models at the released sizes, for benchmarks without downloads, and tiny ones for
tests), `xvfb`. Set-up and CI: `install.sh`, `test.sh`, `lint.sh`; `gpu_step_bench.sh` runs the
step benchmark on a GPU machine.
"""
