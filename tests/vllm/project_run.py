"""The project's own transformers path on the same requests (run with .venv's Python).

.venv/bin/python tests/vllm/project_run.py MODEL REQUESTS.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image

from agent.backends.loading import ModelConfig, load_model
from agent.backends.local import LocalVLM
from pixelprune import parse_prune_spec

if __name__ == "__main__":
    folder, requests_file = sys.argv[1:3]
    vlm = LocalVLM(load_model(ModelConfig(folder, None, "cpu")), name=folder, vision_cache=False)
    for request in json.loads(Path(requests_file).read_text()):
        images = [Image.open(path).convert("RGB") for path in request["images"]]
        content = [{"type": "image"}] * len(images) + [{"type": "text", "text": request["text"]}]
        spec = request.get("pixelprune")
        prune = None if spec in (None, "off") else parse_prune_spec(spec)
        result = vlm.generate(
            images, [{"role": "user", "content": content}], prune=prune, max_new_tokens=12
        )
        line = {
            "ids": result.token_ids,
            "prompt": result.prompt_tokens,
            "kept": result.image_tokens_kept,
            "full": result.image_tokens_full,
        }
        print(json.dumps(line), flush=True)
