"""One vLLM engine answering a list of requests; prints one JSON line per answer.

    python tests/vllm/engine_run.py MODEL stock|plugin REQUESTS.json [ENGINE_OPTIONS_JSON]

Run as its own process (vLLM loads its plugins once per process, and starts its engine with
spawn, hence the __main__ guard): `stock` turns the plugin off (VLLM_PLUGINS=none), `plugin`
loads it. Each request is {"image": PATH, "text": ..., "pixelprune": SPEC or null}; all are
sent in one generate call, so they are batched together.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    folder, mode, requests_file = sys.argv[1:4]
    options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    if mode == "stock":
        os.environ["VLLM_PLUGINS"] = "none"
    from PIL import Image
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tokenizer = AutoTokenizer.from_pretrained(folder)
    llm = LLM(
        model=folder,
        enforce_eager=True,
        dtype="float32",
        max_model_len=8192,
        limit_mm_per_prompt={"image": 3},
        seed=0,
        **options,
    )
    prompts = []
    for request in json.loads(Path(requests_file).read_text()):
        images = [Image.open(path).convert("RGB") for path in request["images"]]
        content = [{"type": "image"}] * len(images) + [{"type": "text", "text": request["text"]}]
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        prompt = {"prompt": text, "multi_modal_data": {"image": images}}
        if request.get("pixelprune") is not None:
            prompt["mm_processor_kwargs"] = {"pixelprune": request["pixelprune"]}
        prompts.append(prompt)
    try:
        answers = llm.generate(prompts, SamplingParams(max_tokens=12, temperature=0))
    except ValueError as error:  # a refused request: what the user is told
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        sys.exit(0)
    for answer in answers:
        line = {"ids": list(answer.outputs[0].token_ids), "prompt": len(answer.prompt_token_ids)}
        print(json.dumps(line), flush=True)
