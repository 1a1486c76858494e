"""OpenAI-compatible HTTP server for the pruned local model (`python main.py serve`).

    engine = Engine(LocalVLM.from_pretrained(path), max_concurrency=4, max_queue=16)
    app = create_app(engine, ServerSettings(model_id=path))
    with running_server(app, "127.0.0.1", 0) as server:  # port 0: any free port
        httpx.get(f"{server.url}/health")

Modules: `settings` (limits), `schemas` (request checks), `images` (image URLs), `engine` (the
queue in front of the one model), `responses` (the answer and its usage), `app` (routes, auth),
`runner` (uvicorn in this process).
"""
