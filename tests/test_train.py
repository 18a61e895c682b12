"""Training: determinism, exact resume, learning, DDP, safe model folders, evaluate/predict."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import midigen
from midigen.cli import main
from midigen.data.dataset import PrepareConfig, prepare
from midigen.model.train import TrainConfig, train

DATA = Path(__file__).parent / "data"
TINY = {"hidden": 24, "embed": 16, "layers": 2, "dropout": 0.1}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data") / "data"
    midi = sorted(p for p in DATA.glob("*.mid") if "smpte" not in p.name)
    prepare(midi, folder, PrepareConfig(valid_fraction=0.3, transpose=(-1, 1)))
    return folder


@pytest.fixture(scope="module")
def words(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("words")
    (folder / "cat.txt").write_text("the cat sat on the mat\n" * 40)
    return folder


def fast(**changes) -> TrainConfig:
    values = {"bptt": 16, "batch_size": 4, "lr": 0.01, "warmup": 5, "eval_every": 1000}
    return TrainConfig(**{**values, **changes})


def weights(folder: Path, name: str = "optimizer.safetensors") -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(folder / name)).items() if k.startswith("model.")}


def test_same_seed_same_weights(dataset, tmp_path):
    for name in ("a", "b"):
        train(dataset, tmp_path / name, fast(steps=8), TINY)
    first, second = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    train(dataset, tmp_path / "c", fast(steps=8, seed=99), TINY)
    other = weights(tmp_path / "c")
    assert not all(torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_resume_gives_the_weights_of_an_uninterrupted_run(dataset, tmp_path, cell):
    architecture = {**TINY, "cell": cell}
    train(dataset, tmp_path / "straight", fast(steps=12, eval_every=4), architecture)
    train(dataset, tmp_path / "resumed", fast(steps=5, eval_every=4), architecture)
    train(dataset, tmp_path / "resumed", fast(steps=12, eval_every=4), architecture, resume=True)
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert state["progress"]["step"] == 12


def test_resume_takes_the_recipe_of_the_run_it_continues(dataset, tmp_path):
    recipe = ["--bptt", "8", "--batch-size", "2", "--lr", "0.02", "--warmup", "3"]
    recipe += ["--seed", "5", "--precision", "fp32", "--eval-every", "4"]
    recipe += ["--hidden", "24", "--embed", "16", "--cell", "gru"]
    runner = CliRunner()
    for folder, steps in (("straight", "9"), ("resumed", "4")):
        args = ["train", str(dataset), "-o", str(tmp_path / folder), "--steps", steps]
        assert runner.invoke(main, args + recipe).exit_code == 0
    resume = ["train", str(dataset), "-o", str(tmp_path / "resumed"), "--resume"]
    changed = runner.invoke(main, resume + ["--steps", "9", "--batch-size", "32"])
    assert changed.exit_code == 2
    assert "--batch-size" in changed.output and "trained with 2" in changed.output
    same = runner.invoke(main, resume + ["--steps", "9", "--lr", "0.02", "--cell", "gru"])
    assert same.exit_code == 0, same.output
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    recorded = json.loads((tmp_path / "resumed" / "config.json").read_text())["training"]
    assert (recorded["batch_size"], recorded["seed"], recorded["precision"]) == (2, 5, "fp32")


def test_resume_of_a_model_trained_on_a_folder_reads_it_in_the_recorded_scheme(tmp_path):
    midi = tmp_path / "midi"
    midi.mkdir()
    for path in sorted(DATA.glob("*.mid"))[:4]:
        shutil.copy(path, midi)
    start = ["train", str(midi), "-o", str(tmp_path / "model"), "--hidden", "16", "--embed", "8"]
    assert CliRunner().invoke(main, [*start, "--scheme", "chunk", "--steps", "1"]).exit_code == 0
    resumed = CliRunner().invoke(main, [*start[:4], "--resume", "--steps", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((tmp_path / "model" / "config.json").read_text())["scheme"] == "chunk"


def test_training_on_a_folder_leaves_out_a_file_it_cannot_read_and_says_so(tmp_path):
    midi = tmp_path / "midi"
    midi.mkdir()
    for path in sorted(DATA.glob("*.mid"))[:4]:
        shutil.copy(path, midi)
    (midi / "broken.mid").write_bytes(b"MThd\0\0")
    shutil.copy(DATA / "broken" / "crafted_missing_eot.mid", midi / "no_end.mid")  # mended
    model = tmp_path / "model"
    options = ["--hidden", "16", "--embed", "8", "--steps", "1"]
    result = CliRunner().invoke(main, ["train", str(midi), "-o", str(model), *options])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {midi / 'broken.mid'}: ")
    assert lines[1].startswith(f"warning: {midi / 'no_end.mid'}: ")  # as prepare says it
    assert lines[-2:] == [
        "warning: kept 1 file that needed repairs",
        "error: skipped 1 file that could not be read; the model trained on the rest",
    ]
    assert (model / "model.safetensors").exists()  # trained on the rest


def test_resume_refuses_other_data_with_the_same_vocabulary(dataset, tmp_path):
    other = tmp_path / "other"
    midi = sorted(p for p in DATA.glob("*.mid") if "smpte" not in p.name)
    prepare(midi, other, PrepareConfig(valid_fraction=0.5, transpose=(-1, 1)))
    assert (other / "vocab.json").read_bytes() == (dataset / "vocab.json").read_bytes()
    train(dataset, tmp_path / "model", fast(steps=2), TINY)
    with pytest.raises(midigen.MidiError, match="trained on other data .* resume needs the same"):
        train(other, tmp_path / "model", fast(steps=4), TINY, resume=True)


def test_thread_trials_run_only_where_one_thread_and_two_train_to_the_same_weights(
    dataset, tmp_path, monkeypatch
):
    """What lets ThreadTrials choose a thread count by speed alone: on an AVX-512 BF16
    CPU one thread and two train to the same bits, on an AVX2 CPU they part, and the
    trainer's probe (same_on_any_count) must tell which."""
    from midigen.model import train as training

    if torch.get_num_threads() < 2:
        pytest.skip("one thread only")
    precision = "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    trials, offered = training.ThreadTrials, []
    for threads in (1, 2):
        monkeypatch.setattr(training, "ThreadTrials", lambda _, n=threads: trials((n,)))
        train(dataset, tmp_path / str(threads), fast(steps=6, precision=precision), TINY)
    one, two = weights(tmp_path / "1"), weights(tmp_path / "2")
    same = all(torch.equal(one[k], two[k]) for k in one)
    monkeypatch.setattr(
        training, "ThreadTrials", lambda counts: offered.append(counts) or trials(counts)
    )
    train(dataset, tmp_path / "tuned", fast(steps=1, precision=precision), TINY)
    assert offered == [(1, 2) if same else ()]


@pytest.mark.parametrize(
    ("one", "two", "expected", "wait"),
    [
        (0.7, 11.0, [1, 1, 2, 1, 1, 1], 120.0),  # under load: one slow step on two, then one,
        (0.43, 0.28, [1, 1, 2, 2, 2, 2], 60.0),  # as before the trial: the wait doubles
    ],
)
def test_thread_trials_run_the_steps_on_the_faster_count(one, two, expected, wait):
    from midigen.model.threads import ThreadTrials

    trials, clock, seen = ThreadTrials((1, 2)), 0.0, []
    try:
        for _ in expected:
            trials.begin(clock)
            threads = torch.get_num_threads()
            seen.append(threads)
            clock += {1: one, 2: two}[threads]
            trials.end({1: one, 2: two}[threads], clock)
        assert seen == expected
        assert trials.wait == wait and trials.next_trial < clock + wait
        trials.begin(trials.next_trial)  # the next trial starts on one thread
        assert torch.get_num_threads() == 1
    finally:
        trials.restore()


def test_loss_falls_and_files_are_written(dataset, tmp_path):
    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=40, eval_every=10), TINY)
    rows = (folder / "log.csv").read_text().splitlines()
    assert rows[0] == "step,seconds,train_loss,valid_loss,tokens_per_s"
    assert rows[1].split(",")[:3] == ["0", rows[1].split(",")[1], ""]  # before training
    trained = [float(row.split(",")[2]) for row in rows[2:]]
    valid = [float(row.split(",")[3]) for row in rows[1:]]
    assert trained[-1] < 0.8 * trained[0]
    assert min(valid) < 0.8 * valid[0]
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "log.csv",
        "loss.png",
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["scheme"] == "event"
    assert config["training"]["steps_done"] == 40
    assert config["data"]["counts"]["train"]["pieces"] > 0


def test_each_validation_reports_its_progress(dataset, tmp_path):
    """The first validation comes before the first step, and on the shipped model's data
    it took a minute in which train showed nothing."""
    heard: list[tuple[int, int]] = []
    train(
        dataset,
        tmp_path / "m",
        fast(steps=10, eval_every=5),
        TINY,
        validating=lambda *a: heard.append(a),
    )
    total = heard[0][1]
    assert total == json.loads((tmp_path / "m" / "config.json").read_text())["metrics"]["tokens"]
    done = [d for d, t in heard if t == total]
    assert len(done) == len(heard)  # every report counts against the whole split
    finished = [k for k, d in enumerate(done) if d == total]
    assert len(finished) == 3  # steps 0, 5 and 10
    first = done[: finished[0] + 1]
    assert first == sorted(set(first))  # rising, window by window


def test_word_text_model_predicts_the_next_word(words, tmp_path):
    folder = tmp_path / "model"
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(words),
            "-o",
            str(folder),
            "--hidden",
            "32",
            "--embed",
            "32",
            "--steps",
            "150",
            "--bptt",
            "16",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
        ],
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["predict", str(folder), "--tokens", "the cat sat on"])
    assert result.exit_code == 0
    assert result.output.split()[0] == "the"


def test_evaluate_reports_bits_per_note(dataset, tmp_path):
    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=10), TINY)
    result = CliRunner().invoke(main, ["evaluate", str(folder), str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert set(metrics) == {"loss", "perplexity", "bits_per_note", "accuracy", "tokens", "notes"}
    assert metrics["notes"] > 0 and metrics["bits_per_note"] > 0
    on_files = midigen.load_model(folder).evaluate(DATA / "pymidi_mary.mid")
    assert on_files.tokens > 0


def test_evaluation_tunes_its_threads_only_where_the_scores_stay_the_same(
    dataset, tmp_path, monkeypatch
):
    """Beside a busy process `evaluate` took 2 min 51 s on two threads and 8 s on one; it
    may choose its count by speed only where that leaves every score as it was."""
    from midigen.model import evaluate as evaluation

    if torch.get_num_threads() < 2:
        pytest.skip("one thread only")
    train(dataset, tmp_path / "model", fast(steps=2), TINY)
    model = midigen.load_model(tmp_path / "model")
    trials, offered, scores = evaluation.ThreadTrials, [], {}
    for threads in (1, 2):
        monkeypatch.setattr(evaluation, "ThreadTrials", lambda _, n=threads: trials((n,)))
        scores[threads] = model.evaluate(dataset)
    monkeypatch.setattr(
        evaluation, "ThreadTrials", lambda counts: offered.append(counts) or trials(counts)
    )
    tuned = model.evaluate(dataset)
    assert offered == [(1, 2) if scores[1] == scores[2] else ()]
    assert tuned == scores[2]  # the same on either count, or on torch's own (two)


def test_evaluate_names_the_files_of_a_folder_it_could_not_read(dataset, tmp_path):
    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=2), TINY)
    songs = tmp_path / "songs"
    songs.mkdir()
    shutil.copy(DATA / "pymidi_mary.mid", songs)
    shutil.copy(DATA / "broken" / "crafted_missing_eot.mid", songs / "no_end.mid")  # mended
    (songs / "empty.mid").write_bytes(b"")
    (songs / "notes.mid").write_text("not music")
    for k in range(5):  # more than a screenful's share: it named the first 5
        (songs / f"part-{k}.mid").write_bytes(b"")
    result = CliRunner().invoke(main, ["evaluate", str(folder), str(songs), "--json"])
    assert result.exit_code == 1
    mended = midigen.load_model(folder).evaluate(songs / "no_end.mid")
    assert json.loads(result.stdout)["notes"] == 34 + mended.notes  # scored without the rest
    stderr = result.stderr.splitlines()
    assert stderr[0].startswith(f"warning: {songs / 'no_end.mid'}: ")  # as prepare says it
    assert stderr[1:] == [
        f"error: {songs / 'empty.mid'}: empty file (byte 0)",
        f"error: {songs / 'notes.mid'}: not a MIDI file (starts with b'not ', no MThd header) "
        "(byte 0)",
        *(f"error: {songs / f'part-{k}.mid'}: empty file (byte 0)" for k in range(5)),
        "warning: kept 1 file that needed repairs",
        "error: skipped 7 files that could not be read",
    ]


def test_scores_do_not_depend_on_how_pieces_share_the_batch(dataset, tmp_path):
    from midigen.data.dataset import open_dataset
    from midigen.model.evaluate import evaluate_split

    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=10), TINY)
    network, data = midigen.load_model(folder).network, open_dataset(dataset)
    lengths = sorted(data.pieces("train")[:, 1])
    assert lengths[-1] > 4 * lengths[0]  # columns finish at different windows
    alone = evaluate_split(network, data, "train", bptt=16, batch=1)
    for batch in (3, 8):
        heard: list[tuple[int, int]] = []
        shared = evaluate_split(
            network, data, "train", bptt=16, batch=batch, progress=lambda *p, to=heard: to.append(p)
        )
        assert (shared.tokens, shared.accuracy) == (alone.tokens, alone.accuracy)
        assert shared.loss == pytest.approx(alone.loss, rel=1e-5)
        # the progress bar's figures: tokens scored, rising to all of them
        assert heard[-1] == (shared.tokens, shared.tokens)
        assert [done for done, _ in heard] == sorted({done for done, _ in heard})


def test_evaluation_runs_the_busiest_columns_first():
    import numpy as np

    from midigen.data.batches import Epoch
    from midigen.model.evaluate import _busiest_first
    from midigen.tokens.vocab import PAD_ID

    # three columns of 3 windows of 2 tokens; their tokens fill 1, 3 and 2 windows
    inputs = np.full((3, 6), PAD_ID, np.int32)
    inputs[0, :2], inputs[1, :6], inputs[2, :3] = 5, 6, 7
    starts = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0]], bool)
    epoch, busy = _busiest_first(Epoch(inputs, inputs + 1, starts, bptt=2))
    assert list(busy) == [3, 2, 1]
    assert [row[0] for row in epoch.inputs] == [6, 7, 5]
    assert (epoch.targets == epoch.inputs + 1).all()
    assert epoch.starts.tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 0]]


def test_predict_after_a_midi_prime(dataset, tmp_path):
    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=5), TINY)
    result = CliRunner().invoke(
        main, ["predict", str(folder), "--prime", str(DATA / "pymidi_mary.mid"), "--top", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    probabilities = [float(line.split()[1]) for line in lines]
    assert probabilities == sorted(probabilities, reverse=True)
    cut = tmp_path / "cut.mid"  # a prime its reader mends: predict says so, as info does
    cut.write_bytes((DATA / "pymidi_mary.mid").read_bytes()[:-4])
    result = CliRunner().invoke(main, ["predict", str(folder), "--prime", str(cut)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: {cut}: ")


def test_model_folders_hold_no_pickles(dataset, tmp_path):
    train(dataset, tmp_path / "model", fast(steps=3), TINY)
    for path in (tmp_path / "model").iterdir():
        assert path.suffix in {".json", ".safetensors", ".csv", ".png"}
        assert not path.read_bytes().startswith(b"\x80")  # pickle protocol marker


@pytest.mark.parametrize("damage", ["truncate", "edit_config", "no_config", "no_weights"])
def test_damaged_model_folders_give_one_error_line(dataset, tmp_path, damage):
    folder = tmp_path / "model"
    train(dataset, folder, fast(steps=3), TINY)
    if damage == "truncate":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "edit_config":
        config = json.loads((folder / "config.json").read_text())
        config["model"]["hidden"] = 48
        (folder / "config.json").write_text(json.dumps(config))
    elif damage == "no_config":
        (folder / "config.json").unlink()
    else:
        (folder / "model.safetensors").unlink()
    result = CliRunner().invoke(main, ["predict", str(folder), "--tokens", "EVENT_24"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_training_into_an_existing_model_needs_resume(dataset, tmp_path):
    train(dataset, tmp_path / "model", fast(steps=2), TINY)
    with pytest.raises(midigen.MidiError, match="already holds a model; add --resume"):
        train(dataset, tmp_path / "model", fast(steps=2), TINY)
    result = CliRunner().invoke(main, ["train", str(dataset), "-o", str(tmp_path / "model")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'model'}: already holds a model; "
        "add --resume to continue it, or use another -o\n"
    )


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_data_parallel_with_two_cpu_processes(dataset, tmp_path):
    folder = tmp_path / "ddp"
    command = [
        "torchrun",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "midigen",
        "train",
        str(dataset),
        "-o",
        str(folder),
        "--hidden",
        "24",
        "--embed",
        "16",
        "--steps",
        "6",
        "--eval-every",
        "3",  # the last step's validation is the last: each process must see so alike
        "--bptt",
        "16",
        "--batch-size",
        "2",
        "--device",
        "cpu",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=environment, check=False
    )
    assert completed.returncode == 0, completed.stderr[:3000] + completed.stderr[-2000:]
    reports = [line for line in completed.stdout.splitlines() if line.startswith(f"{folder}:")]
    assert len(reports) == 1 and "best validation loss" in reports[0]  # process 0's alone
    config = json.loads((folder / "config.json").read_text())
    assert config["training"]["processes"] == 2
    assert config["training"]["steps_done"] == 6
    assert midigen.load_model(folder).predict(["EVENT_24"], top=1)


def test_cli_train_refuses_two_targets(dataset, tmp_path):
    result = CliRunner().invoke(
        main, ["train", str(dataset), "-o", str(tmp_path / "m"), "--steps", "3", "--epochs", "1"]
    )
    assert result.exit_code == 2
    assert "give one of --steps, --epochs and --time" in result.stderr


def test_python_api_loads_without_the_cli(dataset, tmp_path):
    train(dataset, tmp_path / "model", fast(steps=3), TINY)
    model = midigen.load_model(tmp_path / "model")
    ranking = model.predict(["EVENT_24"], top=5)
    assert len(ranking) == 5
    assert sum(p for _, p in ranking) <= 1.0 + 1e-6
    assert sys.modules.get("torch") is not None


def test_ctrl_c_saves_says_how_to_resume_and_exits_130(dataset, tmp_path):
    import signal
    import time

    folder = tmp_path / "model"
    command = [sys.executable, "-m", "midigen", "train", str(dataset), "-o", str(folder)]
    options = ["--steps", "100000", "--hidden", "24", "--embed", "16", "--bptt", "16"]
    training = subprocess.Popen(
        [*command, *options, "--batch-size", "4"], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (folder / "log.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # some steps past the first validation
    training.send_signal(signal.SIGINT)
    _, stderr = training.communicate(timeout=60)
    assert training.returncode == 130, stderr
    assert "interrupted: saved at step" in stderr
    typed = shlex.join(["midigen", "train", str(dataset), "-o", str(folder), *options])
    assert f"run `{typed} --batch-size 4 --resume`" in stderr  # the command to go on with
    resumed = CliRunner().invoke(
        main, ["train", str(dataset), "-o", str(folder), "--resume", "--steps", "1"]
    )
    assert resumed.exit_code == 0, resumed.output  # the saved checkpoint is already past 1


def train_two_steps(folder: Path, model: Path):
    """`midigen train FOLDER` for two steps of a tiny network: what it says of its data."""
    result = CliRunner().invoke(
        main,
        ["train", str(folder), "-o", str(model), "--steps", "2", "--hidden", "8",
         "--embed", "8", "--bptt", "8", "--batch-size", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def test_a_tiny_or_missing_validation_split_is_reported(tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(DATA / "pymidi_mary.mid", one)
    result = train_two_steps(one, tmp_path / "m")
    assert "warning: no validation split" in result.stderr


def test_a_validation_split_that_outweighs_the_training_split_is_reported(tmp_path):
    # two files: the split holds one out whole, here the longer (its hash is the lower)
    words = tmp_path / "words"
    words.mkdir()
    (words / "short.txt").write_text("a b c d\n")
    (words / "long.txt").write_text("a b c d e f g h\n" * 20 + "x " * 2 + "\n")
    result = train_two_steps(words, tmp_path / "m")
    assert "warning: the validation split holds more tokens than the training split" in (
        result.stderr
    )
    assert "tiny" not in result.stderr  # one warning, not two that disagree


def test_a_model_that_never_beats_step_zero_says_so(dataset, tmp_path):
    messages: list[str] = []
    # a rate so small that no weight moves: at 1e-9 a loss a rounding error lower beat it
    train(
        dataset, tmp_path / "m", fast(steps=2, lr=1e-30, eval_every=1), TINY, notify=messages.append
    )
    assert any("never beat the untrained model" in message for message in messages)


def test_long_word_texts_train_every_batch_column(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    lines = [" ".join(f"w{(k * 7 + j) % 50}" for j in range(9)) for k in range(600)]
    (books / "book.txt").write_text("\n".join(lines) + "\n\n" + "a short last paragraph\n")
    report = prepare([books], tmp_path / "data", PrepareConfig(scheme="text", valid_fraction=0))
    pieces = report.counts["train"]["pieces"]
    assert pieces == -(-600 * 10 // 1024) + 1  # 1,024-token parts, and the last paragraph
    assert report.counts["train"]["tokens"] == 600 * 10 + 5


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_learn_and_are_recorded(dataset, tmp_path, precision):
    if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bfloat16")
    result = train(dataset, tmp_path / "m", fast(steps=40, precision=precision), TINY)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["training"]["precision"] == precision
    assert config["training"]["precision_used"] == precision
    log = (tmp_path / "m" / "log.csv").read_text().splitlines()
    first, last = (float(line.split(",")[3]) for line in (log[1], log[-1]))
    assert last < first and result.best_valid_loss == pytest.approx(min(first, last))


def test_an_unknown_precision_is_refused():
    with pytest.raises(midigen.MidiError, match="unknown precision 'fp8'"):
        fast(precision="fp8")


class Killed(BaseException):
    """What a kill -9 looks like from inside: the process stops where it stands."""


def kill_at_replace(monkeypatch, when: int) -> None:
    """Make the ``when``-th file rename from now on stop the process (it never happens)."""
    real = os.replace
    calls = {"n": 0}

    def replace(source, target):
        calls["n"] += 1
        if calls["n"] == when:
            raise Killed
        return real(source, target)

    monkeypatch.setattr(os, "replace", replace)


def saved_steps(folder: Path) -> tuple[int, int]:
    from safetensors import safe_open

    state = json.loads((folder / "state.json").read_text())["progress"]["step"]
    with safe_open(str(folder / "optimizer.safetensors"), "pt") as stream:
        return state, int(stream.metadata()["step"])


@pytest.fixture(scope="module")
def checkpoints(dataset, tmp_path_factory) -> tuple[Path, Path]:
    """(a run of 6 steps, a run of 3 steps to resume to 6)."""
    root = tmp_path_factory.mktemp("checkpoints")
    train(dataset, root / "whole", fast(steps=6), TINY)
    train(dataset, root / "base", fast(steps=3), TINY)
    return root / "whole", root / "base"


@pytest.mark.parametrize("when", range(1, 7))  # a resumed run renames 6 files
def test_a_kill_at_any_write_of_a_checkpoint_still_resumes_exactly(
    dataset, checkpoints, tmp_path, when
):
    whole, base = checkpoints
    killed = tmp_path / "killed"
    shutil.copytree(base, killed)
    with monkeypatch_context() as patch:
        kill_at_replace(patch, when)
        with pytest.raises(Killed):
            train(dataset, killed, fast(steps=6), TINY, resume=True)
    train(dataset, killed, fast(steps=6), TINY, resume=True)
    assert saved_steps(killed) == (6, 6)
    assert not list(killed.glob(".*.*"))  # no temporary files left
    for name, value in weights(whole).items():
        assert torch.equal(value, weights(killed)[name]), name


@pytest.mark.parametrize("when", range(1, 5))
def test_a_kill_during_the_first_checkpoint_restarts_cleanly(dataset, tmp_path, when):
    folder = tmp_path / "model"
    with monkeypatch_context() as patch:
        kill_at_replace(patch, when)
        with pytest.raises(Killed):
            train(dataset, folder, fast(steps=3), TINY)
    # a kill (no clean-up) leaves the folder and the lock of a process gone; the raise here
    # let the lock go, and the folder too where the run had written nothing into it yet
    folder.mkdir(exist_ok=True)
    (folder / ".train.lock").write_text("999999999")
    messages: list[str] = []
    train(dataset, folder, fast(steps=3), TINY, resume=True, notify=messages.append)
    assert saved_steps(folder) == (3, 3)
    assert any("nothing to resume" in m for m in messages) or (folder / "state.json").exists()


def test_resume_never_writes_over_a_model_without_its_training_state(dataset, tmp_path):
    folder = tmp_path / "shipped"
    train(dataset, folder, fast(steps=2), TINY)
    for name in ("optimizer.safetensors", "state.json"):  # as models/default ships
        (folder / name).unlink()
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = CliRunner().invoke(
        main, ["train", str(dataset), "-o", str(folder), "--resume", "--steps", "4"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {folder}: holds a model but not its training state (state.json), "
        "so there is nothing to resume; train into another folder\n"
    )
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


@pytest.mark.parametrize("resume", [False, True])
def test_training_never_writes_into_a_folder_of_other_files(dataset, tmp_path, resume):
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "a.mid").write_bytes(b"MThd")
    with pytest.raises(midigen.MidiError, match=r"holds files that are not a model's \(a.mid\)"):
        train(dataset, folder, fast(steps=2), TINY, resume=resume)
    assert [path.name for path in folder.iterdir()] == ["a.mid"]
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(midigen.MidiError, match="exists and is not a folder"):
        train(dataset, file, fast(steps=2), TINY)


def test_a_training_that_fails_before_its_first_step_leaves_no_folder_it_made(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "cat.txt").write_text("")  # no tokens to train on
    for folder in (tmp_path / "new" / "model", tmp_path / "kept"):
        if folder.name == "kept":
            folder.mkdir()  # the user's own empty folder stays
        with pytest.raises(midigen.MidiError):
            train(empty, folder, fast(steps=2), TINY)
        assert folder.exists() == (folder.name == "kept")
    assert not (tmp_path / "new").exists()  # nor the parent made for it


def test_only_process_0_of_a_torchrun_speaks(monkeypatch):
    from midigen.model.distributed import is_main_process

    for world, rank, speaks in (
        (None, None, True),
        ("2", "0", True),
        ("2", "1", False),
        (None, "1", True),
    ):  # one process, whatever RANK says
        for name, value in (("WORLD_SIZE", world), ("RANK", rank)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert is_main_process() == speaks


def test_a_run_stopped_before_its_first_step_can_run_again(dataset, tmp_path, monkeypatch):
    """Ctrl-C while the first validation runs (before train catches it) leaves config.json
    and no checkpoint: the same command again, or with --resume, trains from the start."""
    from midigen.model import train as training

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    folder = tmp_path / "model"
    with monkeypatch.context() as patch:
        patch.setattr(training, "evaluate_split", pressed)
        with pytest.raises(KeyboardInterrupt):
            train(dataset, folder, fast(steps=2), TINY)
    assert (folder / "config.json").exists() and not (folder / "state.json").exists()
    train(dataset, folder, fast(steps=2), TINY)
    assert saved_steps(folder) == (2, 2)
    assert [row.split(",")[0] for row in (folder / "log.csv").read_text().split()[1:]] == [
        "0",
        "2",
    ]
    with pytest.raises(midigen.MidiError, match="already holds a model"):
        train(dataset, folder, fast(steps=2), TINY)  # trained now: not written over
    with monkeypatch.context() as patch:
        patch.setattr(training, "evaluate_split", pressed)
        with pytest.raises(KeyboardInterrupt):
            train(dataset, tmp_path / "again", fast(steps=2), TINY)
    train(dataset, tmp_path / "again", fast(steps=2), TINY, resume=True)
    assert saved_steps(tmp_path / "again") == (2, 2)


def test_ctrl_c_while_torch_loads_interrupts_after_it():
    import signal

    from midigen.cli import _interrupts_held

    finished = []
    with pytest.raises(KeyboardInterrupt), _interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append(True)  # the block runs to its end first
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_into_a_new_folder_trains_from_the_start(dataset, tmp_path):
    messages: list[str] = []
    train(dataset, tmp_path / "new", fast(steps=2), TINY, resume=True, notify=messages.append)
    assert saved_steps(tmp_path / "new") == (2, 2)
    assert any("nothing to resume" in m for m in messages)


def test_a_second_training_into_the_same_folder_is_refused(dataset, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / ".train.lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(midigen.MidiError, match=r"another training \(process \d+\) is writing"):
        train(dataset, folder, fast(steps=2), TINY)
    (folder / ".train.lock").write_text("999999999")  # a process that is gone
    train(dataset, folder, fast(steps=2), TINY)
    assert not (folder / ".train.lock").exists()


def monkeypatch_context():
    return pytest.MonkeyPatch.context()


def test_resume_to_a_target_already_reached_says_so_and_changes_nothing(dataset, tmp_path):
    train(dataset, tmp_path / "model", fast(steps=3), TINY)
    before = {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()}
    messages: list[str] = []
    other = fast(steps=2, lr=0.5, batch_size=2)  # a recipe that would have been recorded
    train(dataset, tmp_path / "model", other, TINY, resume=True, notify=messages.append)
    assert messages == [
        "the model has trained 3 steps already, as far as this run asks: nothing to do "
        "(ask for more --steps, --time or --epochs to continue)"
    ]
    assert saved_steps(tmp_path / "model") == (3, 3)
    after = {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()}
    assert after == before


def test_init_trains_on_from_the_models_weights(dataset, tmp_path):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    train(dataset, base, fast(steps=30, eval_every=10), TINY)
    best = json.loads((base / "state.json").read_text())["progress"]["best_valid_loss"]
    train(dataset, tuned, fast(steps=10, eval_every=5, lr=0.002, init=str(base)))
    step_zero = (tuned / "log.csv").read_text().splitlines()[1].split(",")
    assert step_zero[0] == "0" and float(step_zero[3]) == pytest.approx(best, abs=1e-5)
    config = json.loads((tuned / "config.json").read_text())
    assert config["model"] == json.loads((base / "config.json").read_text())["model"]
    assert config["training"]["init"] == str(base)
    # a resumed fine-tuning continues from its own checkpoint, the recipe and --init kept
    train(dataset, tuned, fast(steps=12, eval_every=5, lr=0.002), resume=True)
    assert json.loads((tuned / "config.json").read_text())["training"]["init"] == str(base)


def test_init_refuses_data_with_tokens_the_model_lacks(dataset, tmp_path):
    train(dataset, tmp_path / "base", fast(steps=2), TINY)  # learned no styles
    corpus = tmp_path / "corpus" / "pop"
    corpus.mkdir(parents=True)
    for path in sorted(DATA.glob("*.mid"))[:3]:
        shutil.copy(path, corpus)
    prepare([corpus.parent], tmp_path / "styled", PrepareConfig(valid_fraction=0.3, styles=True))
    with pytest.raises(midigen.MidiError, match=r"1 token the model does not know \(STYLE_pop\)"):
        train(tmp_path / "styled", tmp_path / "tuned", fast(steps=2, init=str(tmp_path / "base")))


def test_init_fine_tunes_on_a_folder_of_midi_in_the_models_vocabulary(dataset, tmp_path):
    train(dataset, tmp_path / "base", fast(steps=2), TINY)
    folder = tmp_path / "mine"
    folder.mkdir()
    for path in sorted(DATA.glob("*.mid"))[:4]:
        shutil.copy(path, folder)
    train(folder, tmp_path / "tuned", fast(steps=2, init=str(tmp_path / "base")))
    tuned = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert tuned["vocab"] == json.loads((tmp_path / "base" / "config.json").read_text())["vocab"]


def test_cli_init_takes_the_models_architecture(dataset, tmp_path):
    train(dataset, tmp_path / "base", fast(steps=2), TINY)
    command = ["train", str(dataset), "-o", str(tmp_path / "m"), "--steps", "2"]
    result = CliRunner().invoke(main, [*command, "--init", str(tmp_path / "base"), "--hidden", "8"])
    assert result.exit_code == 2
    assert "architecture is its own" in result.stderr
