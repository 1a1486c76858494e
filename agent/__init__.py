"""The GUI-agent runtime: capture → prune → model → parse → act.

    from agent import Agent, LocalVLM, PruneConfig

    model = LocalVLM.from_pretrained("ByteDance-Seed/UI-TARS-1.5-7B", quantization="4bit")
    agent = Agent(model, prune=PruneConfig(tau=0.0), mode="confirm", max_steps=15)
    result = agent.run("Open the Downloads folder")
    print(result.status, result.answer)

Names are imported on first use, so `import agent.actions` stays light and scripts that only
replay or use a remote model never import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Agent": "agent.loop",
    "AgentConfig": "agent.settings",
    "Backend": "agent.backends.base",
    "ModelReply": "agent.backends.base",
    "PruneConfig": "pixelprune",
    "ScriptedBackend": "agent.backends.scripted",
    "LocalVLM": "agent.backends.local",
    "CaptureConfig": "agent.capture",
    "ScreenCapture": "agent.capture",
    "Monitor": "agent.coords",
    "ExecutorConfig": "agent.executor",
    "RunResult": "agent.records",
    "StepRecord": "agent.records",
    "ModelSpec": "agent.settings",
    "Settings": "agent.settings",
    "load_task_file": "agent.settings",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
