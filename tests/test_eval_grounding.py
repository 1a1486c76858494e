"""`main.py eval-grounding`: the ScreenSpot readers, the generated set, and the evaluation.

The oracles answer each box's centre in the parser's own convention, computed from the box and
the processor's resize alone (tools/grounding_answers.py, not through agent.coords, which the
evaluation uses), so a wrong mapping in the evaluation shows up as misses.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from main_process import run_main
from PIL import Image

from agent.actions import Point, Space
from agent.backends.scripted import ScriptedBackend
from agent.coords import Frame, Monitor
from agent.errors import ActionError
from agent.parsers import get_parser
from tools import eval_grounding
from tools.dev.make_grounding_set import FORM, Target, check_alignment, render_pages
from tools.eval_grounding import evaluate, judge, parse_setting
from tools.grounding_answers import centre_answer
from tools.grounding_answers import main as write_answers
from tools.grounding_results import Agreement, Setting, summarise
from tools.screenspot import GroundingSetError, load_grounding_set

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "grounding"
SETTINGS = [Setting("off", None), parse_setting("pred_2d:0")]


def v2_entries() -> list[dict]:
    return json.loads((DATA / "screenspot_web_v2.json").read_text())


# ---- readers ---------------------------------------------------------------------------------


def test_the_committed_set_reads_as_screenspot_v2():
    dataset = load_grounding_set(DATA)
    assert dataset.layout == "screenspot-v2" and not dataset.skipped
    entries = v2_entries()
    assert len(dataset.samples) == len(entries) >= 20
    for sample, entry in zip(dataset.samples, entries, strict=True):
        x, y, w, h = entry["bbox"]
        assert sample.bbox == (x, y, x + w, y + h)
        assert sample.instruction == entry["instruction"]
        assert sample.image == DATA / "screenspotv2_image" / entry["img_filename"]
        assert (sample.platform, sample.element, sample.source) == (
            "web",
            entry["data_type"],
            entry["data_source"],
        )
    assert {s.element for s in dataset.samples} == {"text", "icon"}
    assert {s.size for s in dataset.samples} == {(1280, 800), (1920, 1080)}


def make_v1(folder: Path) -> None:
    """The committed set in the v1 layout, split over two platforms, with two bad entries."""
    shutil.copytree(DATA / "screenspotv2_image", folder / "screenspot_imgs")
    entries = v2_entries()
    half = len(entries) // 2
    web = [*entries[:half], {**entries[0], "bbox": [1, 2, 3]}]
    desktop = [*entries[half:], {**entries[1], "img_filename": "gone.png"}]
    (folder / "screenspot_web.json").write_text(json.dumps(web))
    (folder / "screenspot_desktop.json").write_text(json.dumps(desktop))


def make_pro(folder: Path) -> None:
    """The committed set in the Pro layout ([x1, y1, x2, y2] boxes), with two bad entries."""
    shutil.copytree(DATA / "screenspotv2_image", folder / "images" / "web")
    images = DATA / "screenspotv2_image"
    entries = []
    for entry in v2_entries():
        x, y, w, h = entry["bbox"]
        entries.append(
            {
                "img_filename": f"web/{entry['img_filename']}",
                "bbox": [x, y, x + w, y + h],
                "instruction": entry["instruction"],
                "ui_type": entry["data_type"],
                "platform": "linux",
                "application": entry["data_source"],
                "group": "Web",
                "img_size": list(Image.open(images / entry["img_filename"]).size),
            }
        )
    entries.append({**entries[0], "bbox": [50, 50, 40, 60]})  # x2 < x1
    entries.append({**entries[1], "img_filename": "web/gone.png"})
    entries.append({**entries[2], "img_size": [640, 400]})  # not the file's size: the box is not
    (folder / "annotations").mkdir()
    (folder / "annotations" / "chromium.json").write_text(json.dumps(entries))


@pytest.mark.parametrize(
    ("make", "layout", "platforms"),
    [(make_v1, "screenspot", {"web", "desktop"}), (make_pro, "screenspot-pro", {"linux"})],
)
def test_v1_and_pro_layouts_give_the_same_boxes(tmp_path, make, layout, platforms):
    make(tmp_path)
    dataset = load_grounding_set(tmp_path)
    reference = {(s.image.name, s.instruction): s.bbox for s in load_grounding_set(DATA).samples}
    assert dataset.layout == layout
    assert {(s.image.name, s.instruction): s.bbox for s in dataset.samples} == reference
    assert {s.platform for s in dataset.samples} == platforms
    skipped = dataset.skipped
    if layout == "screenspot-pro":
        [resized] = [s for s in skipped if "img_size" in s.reason]
        assert "[640, 400] differs from the image file's" in resized.reason
        skipped = [s for s in skipped if s is not resized]
    bad_box, missing = sorted(skipped, key=lambda s: "gone.png" in s.reason)
    assert "does not exist" in missing.reason and "gone.png" in missing.reason
    assert "four numbers" in bad_box.reason or "no area" in bad_box.reason
    assert bad_box.where.endswith(f"#{len(v2_entries()) // 2}") or bad_box.where.endswith(
        f"#{len(v2_entries())}"
    )
    if layout == "screenspot-pro":
        assert {s.source for s in dataset.samples} == {"form", "toolbar", "settings", "table"}
        assert {s.group for s in dataset.samples} == {"Web"}
        _, summary = run_oracle("qwen2.5", "uitars", dataset.samples[:6])
        kinds = {(g.kind, g.group) for g in summary.groups}
        assert ("group", "Web") in kinds
        apps = {s.source for s in dataset.samples[:6]}
        assert {("application", a) for a in apps} <= kinds  # the Pro leaderboard's breakdowns
        assert {("platform×application", f"linux / {a}") for a in apps} <= kinds


def test_an_unknown_folder_names_the_expected_layouts(tmp_path):
    (tmp_path / "data.json").write_text("[]")
    with pytest.raises(GroundingSetError) as error:
        load_grounding_set(tmp_path)
    for layout in ("screenspot_imgs/", "screenspotv2_image/", "annotations/*.json"):
        assert layout in str(error.value)
    (tmp_path / "screenspot_web_v2.json").write_text("[]")
    (tmp_path / "screenspotv2_image.zip").write_bytes(b"")
    with pytest.raises(GroundingSetError, match=r"unzip screenspotv2_image\.zip"):
        load_grounding_set(tmp_path)


# ---- the generated set -----------------------------------------------------------------------


def test_generated_boxes_sit_on_their_elements():
    boxed = 0
    for entry in v2_entries():
        image = Image.open(DATA / "screenspotv2_image" / entry["img_filename"])
        x, y, w, h = entry["bbox"]
        target = Target(
            entry["instruction"], entry["data_type"], (x, y, x + w, y + h), entry["boxed"]
        )
        assert check_alignment(image, target) is None, entry
        if target.boxed:  # a border or fill: the box must hug it, so a shifted box is caught
            boxed += 1
            for dx, dy in ((4, 0), (-4, 0), (0, 4), (0, -4)):
                shifted = Target(
                    target.instruction,
                    target.element,
                    (x + dx, y + dy, x + w + dx, y + h + dy),
                    True,
                )
                assert check_alignment(image, shifted) is not None, (entry, dx, dy)
    assert boxed >= len(v2_entries()) // 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_a_fresh_rendering_gives_boxes_on_their_elements():
    ((name, image, targets),) = render_pages({"form": FORM}, ((1280, 800),))
    assert name == "form"
    committed = [e["instruction"] for e in v2_entries() if e["img_filename"] == "form-1280x800.png"]
    assert image.size == (1280, 800) and [t.instruction for t in targets] == committed
    for target in targets:
        assert check_alignment(image, target) is None, target


# ---- evaluation with scripted oracles --------------------------------------------------------


def oracle(convention: str, family: str, bbox, offset: float = 0.0):
    """A scripted answer that reads the screenshot's size from the prompt it is asked."""
    return lambda prompt: centre_answer(convention, family, prompt.images[-1].size, bbox, offset)


def run_oracle(family: str, convention: str, samples, offset: float = 0.0):
    answers = [oracle(convention, family, s.bbox, offset) for s in samples for _ in SETTINGS]
    backend = ScriptedBackend(answers, family=family)
    evaluation = evaluate(backend, get_parser(convention), samples, SETTINGS, max_new_tokens=32)
    assert evaluation.stopped is None and backend.calls == len(answers)
    return evaluation, summarise(evaluation, SETTINGS)


@pytest.mark.parametrize(
    ("family", "convention", "count"),
    [("qwen2.5", "uitars", None), ("qwen3", "qwen3-computer", 12), ("qwen2", "showui", 12)],
)
def test_an_oracle_hits_every_box_off_and_on(family, convention, count):
    samples = load_grounding_set(DATA).samples
    samples = samples if count is None else samples[:: len(samples) // count]
    evaluation, summary = run_oracle(family, convention, samples)
    overall = summary.groups[0]
    assert overall.group == "overall"
    off, on = overall.settings["off"], overall.settings["pred_2d:0"]
    assert off.n == on.n == len(samples)
    assert off.accuracy == on.accuracy == 1.0 and off.unparsed == on.unparsed == 0
    assert off.kept_share == 1.0 and 0 < on.kept_share < 1
    for result in evaluation.results:
        x1, y1, x2, y2 = result.sample.bbox
        assert x1 <= result.point[0] <= x2 and y1 <= result.point[1] <= y2
    n = len(samples)
    assert summary.agreement["pred_2d:0"] == Agreement(n, n, 1.0, 0, 0, n)
    groups = {(g.kind, g.group) for g in summary.groups}
    assert {("platform", "web"), ("type", "text"), ("type", "icon")} <= groups


def test_an_oracle_aiming_beside_the_box_hits_nothing():
    samples = load_grounding_set(DATA).samples[::4]
    evaluation, summary = run_oracle("qwen2.5", "uitars", samples, offset=1.5)
    assert all(r.outcome == "miss" and r.point is not None for r in evaluation.results)
    for name in ("off", "pred_2d:0"):
        metrics = summary.groups[0].settings[name]
        assert metrics.accuracy == 0.0 and metrics.unparsed == 0


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I would click the Save button.",
        "Action: click(start_box='(99999,5)')",  # outside the resized image
        "Action: click(start_box='(nan,5)')",
        "Action: finished(content='done')",  # no target point
        "Action: hotkey(key='ctrl s')",
        "Action: click(start_box='(10,10)')\nAction: click(start_box='(20,20)')",
        "¿¿ <|im_end|> 0x1f 🙃",
    ],
)
def test_unusable_answers_are_unparsed_never_hits(answer):
    sample = load_grounding_set(DATA).samples[0]
    backend = ScriptedBackend([answer, answer])
    evaluation = evaluate(backend, get_parser("uitars"), [sample], SETTINGS)
    assert [r.outcome for r in evaluation.results] == ["unparsed", "unparsed"]
    assert all(not r.hit and r.point is None and r.error for r in evaluation.results)
    assert summarise(evaluation, SETTINGS).groups[0].settings["off"].unparsed == 1


def test_a_drag_counts_where_it_starts():
    sample = load_grounding_set(DATA).samples[0]
    frame = Frame(Monitor(0, 0, *sample.size), sample.size, (1288, 812))
    inside = centre_answer("uitars", "qwen2.5", sample.size, sample.bbox).split("'")[1]
    outside = "(5,790)"
    parser = get_parser("uitars")
    drag_in = f"Action: drag(start_box='{inside}', end_box='{outside}')"
    drag_out = f"Action: drag(start_box='{outside}', end_box='{inside}')"
    assert sample.size == (1280, 800)  # which the qwen2.5 processor resizes to 1288x812
    assert judge(drag_in, parser, frame, sample.bbox)[0] == "hit"
    assert judge(drag_out, parser, frame, sample.bbox)[0] == "miss"


def test_scored_as_the_official_scripts_unrounded_and_edges_included():
    # a 1280x800 screenshot the model saw at 1288x812; box x 100..200, y 50..60 (image pixels)
    frame = Frame(Monitor(0, 0, 1280, 800), (1280, 800), (1288, 812))
    box = (100.0, 50.0, 200.0, 60.0)
    parser = get_parser("uitars")

    def at(x: float, y: float) -> str:
        return judge(f"Action: click(start_box='({x},{y})')", parser, frame, box)[0]

    right, bottom = 200 / 1280 * 1288, 60 / 800 * 812  # the box's right and bottom edges
    left, top = 100 / 1280 * 1288, 50 / 800 * 812
    assert at(right, bottom) == "hit" and at(left, top) == "hit"  # edges included
    # one resized pixel past the right edge: a screen pixel inside the box after rounding down
    # (200.6 → 200), but outside by the official rule
    assert at(right + 0.6, 55 / 800 * 812) == "miss"
    assert at(left - 0.01, 55 / 800 * 812) == "miss"
    outcome, point, kind, error = judge(  # the reported point: unrounded image pixels
        f"Action: click(start_box='({right},{bottom})')", parser, frame, box
    )
    assert outcome == "hit" and point == pytest.approx((200.0, 60.0)) and kind == "Click"
    assert error is None


def test_prune_specs():
    assert parse_setting("off") == Setting("off", None)
    assert parse_setting("pred_2d:0.05").name == "pred_2d:0.05"
    assert parse_setting("raster").prune.tau == 0.0
    assert parse_setting("pred_2d:0.1:mae").prune.metric == "mae"
    for bad, message in [
        ("pred_2d:x", "not a number"),
        ("nope:0", "unknown method"),
        ("global:0.1", "exact duplicates"),
        ("pred_2d:0:bad", "unknown metric"),
        ("a:b:c:d", "METHOD"),
    ]:
        with pytest.raises(eval_grounding.UsageError, match=message):
            parse_setting(bad)


# ---- the command -----------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_main("eval-grounding", *args, timeout=300)


def in_process(*args: str) -> int:
    """The command in this process; an argparse usage error is its exit status 2."""
    parser = argparse.ArgumentParser()
    eval_grounding.add_arguments(parser)
    try:
        return eval_grounding.run(parser.parse_args(list(args)))
    except SystemExit as stop:
        return int(stop.code or 0)


def test_the_command_with_a_script_writes_every_output(tmp_path):
    samples = load_grounding_set(DATA).samples
    chosen = [samples[i * len(samples) // 6] for i in range(6)]  # --limit 6: evenly spread
    answers = []
    for i, sample in enumerate(chosen):
        hit = centre_answer("uitars", "qwen2.5", sample.size, sample.bbox)
        miss = centre_answer("uitars", "qwen2.5", sample.size, sample.bbox, offset=1.5)
        answers += [hit, miss if i == 2 else hit, hit]  # off, pred_2d:0, raster:0
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(answers))
    out = tmp_path / "out"
    done = cli(
        str(DATA), "--scripted", str(script), "--parser", "uitars", "--limit", "6",
        "--prune", "pred_2d:0", "raster:0", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "clicks lost 1" in done.stdout and "Traceback" not in done.stderr
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["off", "pred_2d:0", "raster:0"] * 6
    assert [r["instruction"] for r in rows[::3]] == [s.instruction for s in chosen]
    assert sum(r["hit"] for r in rows) == 17
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["groups"][0]["settings"]
    assert overall["off"]["accuracy"] == 1.0 and overall["pred_2d:0"]["hits"] == 5
    assert summary["agreement"]["pred_2d:0"]["lost"] == 1
    assert summary["agreement"]["raster:0"]["share"] == 1.0
    assert summary["dataset"]["layout"] == "screenspot-v2" and summary["complete"]
    assert summary["not_pruned"] == {}  # the scripted backend prunes when asked
    assert "| overall |" in (out / "summary.md").read_text()
    with Image.open(out / "accuracy.png") as plot:
        assert plot.format == "PNG" and plot.width > 300


def test_a_run_that_stops_early_keeps_what_it_measured(tmp_path, capsys):
    first, second = load_grounding_set(DATA).samples[:2]
    answers = [centre_answer("uitars", "qwen2.5", s.size, s.bbox) for s in (first, first, second)]
    script = tmp_path / "answers.json"  # enough for sample 1 off and on, sample 2 off only
    script.write_text(json.dumps(answers))
    out = tmp_path / "out"
    code = in_process(str(DATA), "--scripted", str(script), "--parser", "uitars", "--out", str(out))
    assert code == 1 and "stopped early" in capsys.readouterr().err
    assert len((out / "samples.jsonl").read_text().splitlines()) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["complete"] and "no answer left" in summary["stopped"]
    overall = summary["groups"][0]["settings"]
    assert (overall["off"]["hits"], overall["pred_2d:0"]["hits"]) == (2, 1)
    assert summary["agreement"]["pred_2d:0"]["n"] == 1


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, capsys):
    script = tmp_path / "answers.json"
    out = tmp_path / "out"
    args = ["--scripted", str(script), "--parser", "uitars", "--out", str(out), "--limit", "3"]
    chosen = _spread_like_limit(3)
    answers = [centre_answer("uitars", "qwen2.5", s.size, s.bbox) for s in chosen for _ in "ab"]
    script.write_text(json.dumps(answers[:3]))  # the run dies after sample 2's first answer
    assert in_process(str(DATA), *args) == 1
    lines = (out / "samples.jsonl").read_text()
    (out / "samples.jsonl").write_text(lines + '{"id": "cut sho')  # killed mid-line, too
    script.write_text(json.dumps(answers[3:]))  # only what was not asked
    assert in_process(str(DATA), *args, "--resume") == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["off", "pred_2d:0"] * 3  # the torn line is gone
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["groups"][0]["settings"]
    assert summary["complete"] and overall["off"]["n"] == overall["pred_2d:0"]["n"] == 3
    assert overall["off"]["hits"] == 3
    assert in_process(str(DATA), "--scripted", str(script), "--resume") == 2  # needs --out
    assert "--resume needs --out" in capsys.readouterr().err


ORACLE = DATA / "oracle_uitars.json"  # the answers file docs/grounding.md runs


def test_the_committed_answers_file_is_what_the_generator_writes(tmp_path):
    written = tmp_path / "answers.json"
    assert write_answers([str(DATA), "--out", str(written)]) == 0
    assert json.loads(written.read_text())["answers"] == json.loads(ORACLE.read_text())["answers"]


def test_the_documented_command_scores_the_oracle_file_at_every_setting(tmp_path):
    out = tmp_path / "out"
    done = cli(str(DATA), "--scripted", str(ORACLE), "--prune", "pred_2d:0", "raster:0",
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "same hit/miss on 48/48 (100.0%); clicks lost 0" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["groups"][0]["settings"]
    assert [overall[name]["hits"] for name in ("off", "pred_2d:0", "raster:0")] == [48] * 3
    assert summary["parser"] == "uitars"  # read from the answers, no --parser needed
    assert 0 < overall["pred_2d:0"]["kept_share"] < 0.5  # it pruned: the set is mostly flat
    documented = (ROOT / "docs" / "grounding.md").read_text()
    assert "--scripted tests/data/grounding/oracle_uitars.json" in documented


def test_an_answers_file_resumes_and_names_what_it_lacks(tmp_path, capsys):
    answers = json.loads(ORACLE.read_text())["answers"]
    script, out = tmp_path / "answers.json", tmp_path / "out"
    args = [str(DATA), "--scripted", str(script), "--out", str(out), "--limit", "4"]
    chosen = _spread_like_limit(4)
    script.write_text(json.dumps({"answers": {s.id: answers[s.id] for s in chosen[:2]}}))
    assert in_process(*args) == 2  # told before anything is asked
    assert f"no answer for sample {chosen[2].id} and 1 more" in capsys.readouterr().err
    assert not (out / "samples.jsonl").exists()
    script.write_text(json.dumps({"answers": {s.id: answers[s.id] for s in chosen}}))
    assert in_process(*args[:-1], "2") == 0  # --limit 2: the 1st and 3rd of --limit 4
    assert in_process(*args, "--resume") == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(row["hit"] for row in rows)
    script.write_text(json.dumps({"answers": ["not", "a map"]}))
    assert in_process(*args) == 2
    assert '"answers" maps sample ids to answers' in capsys.readouterr().err


def _spread_like_limit(limit: int) -> list:
    samples = load_grounding_set(DATA).samples
    return [samples[i * len(samples) // limit] for i in range(limit)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(DATA), "--model", "/nonexistent/model", "--quant", "none"], "/nonexistent/model"),
        ([str(DATA)], "exactly one of"),
        ([str(DATA), "--scripted", "x.json", "--prune", "pred_2d:abc"], "not a number"),
        (["/nonexistent/set", "--scripted", "x.json"], "not a folder"),
        ([str(ROOT / "tests"), "--scripted", "x.json"], "no known grounding set"),
        ([str(DATA), "--scripted", "/nonexistent.json"], "cannot read the script"),
        ([str(DATA), "--scripted", "x.json", "--limit", "0"], "--limit"),
    ],
)
def test_bad_input_is_a_message(capsys, args, message):
    assert in_process(*args) == 2
    assert message in capsys.readouterr().err


# ---- the tiny random model -------------------------------------------------------------------


def small_set(folder: Path, count: int = 2) -> None:
    """A few committed samples at a third of their size (fewer visual tokens for the CPU)."""
    images = folder / "screenspotv2_image"
    images.mkdir()
    entries = v2_entries()[:: len(v2_entries()) // count][:count]
    for entry in entries:
        with Image.open(DATA / "screenspotv2_image" / entry["img_filename"]) as image:
            image.resize((image.width // 3, image.height // 3)).save(images / entry["img_filename"])
        entry["bbox"] = [v / 3 for v in entry["bbox"]]
    (folder / "screenspot_web_v2.json").write_text(json.dumps(entries))


def test_a_tiny_random_model_runs_pruned_and_unpruned(tmp_path, tiny_models):
    from agent.backends.local import LocalVLM

    small_set(tmp_path)
    samples = load_grounding_set(tmp_path).samples
    backend = LocalVLM(tiny_models["qwen2.5"])
    evaluation = evaluate(backend, get_parser("uitars"), samples, SETTINGS, max_new_tokens=8)
    assert evaluation.stopped is None and len(evaluation.results) == 2 * len(samples)
    for off, on in zip(evaluation.results[::2], evaluation.results[1::2], strict=True):
        assert off.outcome in ("hit", "miss", "unparsed") and isinstance(off.output, str)
        assert off.kept_share == 1.0 and 0 < on.kept_share < 1
        assert off.tokens_full == on.tokens_full and on.tokens_kept < on.tokens_full
        assert off.seconds > 0 and on.seconds > 0
        assert (off.outcome == "unparsed") == (off.point is None)
    summary = summarise(evaluation, SETTINGS)
    assert summary.groups[0].settings["off"].n == len(samples)


@pytest.mark.slow
def test_the_command_with_a_tiny_model_folder(tmp_path, tiny_model_dirs):
    (tmp_path / "set").mkdir()
    small_set(tmp_path / "set")
    done = cli(
        str(tmp_path / "set"), "--model", str(tiny_model_dirs["qwen3"]), "--quant", "none",
        "--max-new-tokens", "8", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parser"] == "qwen3-computer"
    assert summary["groups"][0]["settings"]["pred_2d:0"]["kept_share"] < 1


def test_the_models_own_grounding_prompts():
    from agent.parsers.uitars import GROUNDING_15

    image = Image.new("RGB", (64, 48))
    tars = get_parser("uitars").grounding_prompt("the Save button", image)
    assert tars.messages[0]["content"][0]["text"] == GROUNDING_15.replace(
        "{instruction}", "the Save button"
    )
    assert tars.images == [image]
    v1 = get_parser("uitars-v1").grounding_prompt("the Save button", image)
    assert v1.messages[0]["content"][1]["text"].endswith("following task: the Save button")
    showui = get_parser("showui").grounding_prompt("Nahant", image)
    assert [p["type"] for p in showui.messages[0]["content"]] == ["text", "image", "text"]
    atlas = get_parser("osatlas").grounding_prompt("switch language", image)
    assert '"switch language" (with bbox)?' in atlas.messages[0]["content"][1]["text"]
    assert get_parser("qwen3-computer").grounding_prompt("x", image) is None
    # the answers those prompts get: a bare point from UI-TARS v1, an Action from 1.5
    assert get_parser("uitars-v1").parse_grounding("(500,250)").point == Point(
        500, 250, Space.NORM_1000
    )
    action = get_parser("uitars").parse_grounding("Action: click(point='<point>10 20</point>')")
    assert action.point == Point(10, 20, Space.PIXELS)
    with pytest.raises(ActionError):
        get_parser("uitars").parse_grounding("somewhere near the top")


def test_eval_grounding_with_the_models_own_prompt(tmp_path, capsys):
    samples = _spread_like_limit(4)
    answers = []
    for sample in samples:
        x1, y1, x2, y2 = sample.bbox
        fx, fy = (x1 + x2) / 2 / sample.size[0], (y1 + y2) / 2 / sample.size[1]
        answers += [f"({round(fx * 1000)},{round(fy * 1000)})"] * 2  # off, then pruned
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(answers))
    out = tmp_path / "out"
    args = ["--scripted", str(script), "--parser", "uitars-v1", "--family", "qwen2"]
    code = in_process(str(DATA), *args, "--prompt", "grounding", "--limit", "4", "--out", str(out))
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prompt"] == "grounding" and summary["groups"][0]["settings"]["off"]["hits"] == 4
    refused = in_process(
        str(DATA), "--scripted", str(script), "--parser", "qwen3-computer", "--prompt", "grounding"
    )
    assert refused == 2 and "no grounding prompt of their own" in capsys.readouterr().err
