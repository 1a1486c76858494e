"""Model backends: the local quantized Qwen-VL model (and, later, scripted and remote ones)."""
