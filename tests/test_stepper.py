"""model/stepper.py: the NumPy forward pass gives the PyTorch network's logits, step by step."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from midigen.model.checkpoint import network_tensors
from midigen.model.config import ModelConfig, weight_shapes
from midigen.model.network import LanguageModel
from midigen.model.stepper import (
    TUNE_BLOCK_STEPS,
    TUNE_ROUNDS,
    TUNED_BELOW,
    Stepper,
    ThreadTuned,
)

STEPS = 300
BATCH = 3
VOCAB = 40


def network_of(cell: str, tie: bool, hidden: int, embed: int, layers: int = 2) -> LanguageModel:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB, cell=cell, layers=layers, hidden=hidden, embed=embed, tie_weights=tie
    )
    network = LanguageModel(config)
    with torch.no_grad():  # 3x a trained model's spread, so saturation and drift would show
        for parameter in network.parameters():
            parameter.normal_(0, 0.3)
    return network.eval()


CASES = [
    ("lstm", True, 24, 16),  # tied, with the projection hidden -> embed
    ("lstm", True, 16, 16),  # tied, no projection
    ("lstm", False, 24, 16),
    ("gru", True, 24, 16),
    ("gru", False, 20, 12),
    ("rnn", True, 24, 16),
    ("rnn", False, 16, 8),
]


@pytest.mark.parametrize(("cell", "tie", "hidden", "embed"), CASES)
def test_stepper_logits_equal_the_networks(cell, tie, hidden, embed):
    network = network_of(cell, tie, hidden, embed)
    ids = torch.from_numpy(np.random.default_rng(1).integers(0, VOCAB, (BATCH, STEPS)))
    with torch.no_grad():
        expected, _ = network(ids)  # (batch, time, vocab), one pass over the whole sequence
    weights = {name: t.numpy() for name, t in network_tensors(network).items()}
    stepper = Stepper(network.config, weights)
    state = stepper.initial_state(BATCH)
    worst = 0.0
    for step in range(STEPS):
        logits = stepper.step(ids[:, step].numpy(), state)
        worst = max(worst, float(np.abs(logits - expected[:, step].numpy()).max()))
    assert worst <= 1e-4


@pytest.mark.parametrize(("cell", "tie", "hidden", "embed"), CASES)
def test_saved_tensors_have_the_shapes_the_architecture_names(cell, tie, hidden, embed):
    network = network_of(cell, tie, hidden, embed, layers=3)
    saved = {name: tuple(t.shape) for name, t in network_tensors(network).items()}
    assert saved == weight_shapes(network.config)


def test_one_layer_and_a_batch_of_one():
    network = network_of("lstm", True, 12, 12, layers=1)
    ids = torch.tensor([[5, 7, 1, 0, 39]])
    with torch.no_grad():
        expected, _ = network(ids)
    stepper = Stepper(network.config, {k: v.numpy() for k, v in network_tensors(network).items()})
    state = stepper.initial_state(1)
    for step in range(ids.shape[1]):
        logits = stepper.step(ids[:, step].numpy(), state)
        np.testing.assert_allclose(logits, expected[:, step].numpy(), atol=1e-5)


def test_the_shipped_model_steps_as_its_network_does():
    import midigen

    model = midigen.load_model(Path(__file__).resolve().parents[1] / "models" / "default")
    ids = np.random.default_rng(2).integers(3, len(model.vocab), (2, 200))
    with torch.no_grad():
        expected, _ = model.network(torch.from_numpy(ids))
    state = model.stepper.initial_state(2)
    for step in range(ids.shape[1]):
        logits = model.stepper.step(ids[:, step], state)
        np.testing.assert_allclose(logits, expected[:, step].numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("batch", range(1, TUNED_BELOW))
def test_the_logits_are_the_same_on_one_blas_thread_or_two(batch):
    # a 512-unit LSTM, large enough that OpenBLAS splits its products between threads
    from threadpoolctl import threadpool_limits

    network = network_of("lstm", True, 512, 256)
    weights = {name: t.numpy() for name, t in network_tensors(network).items()}
    stepper = Stepper(network.config, weights)
    ids = np.random.default_rng(2).integers(0, VOCAB, (50, batch))
    runs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            state = stepper.initial_state(batch)
            runs.append(np.stack([stepper.step(step_ids, state) for step_ids in ids]))
    assert np.array_equal(runs[0], runs[1])


class ThreadSensitive:
    """A stepper whose steps take longer on ``slow_threads`` BLAS threads than on others."""

    def __init__(self, slow_threads: int) -> None:
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController().select(user_api="blas")
        self.slow_threads = slow_threads

    def initial_state(self, batch: int) -> list:
        return []

    def step(self, ids: np.ndarray, state: list) -> np.ndarray:
        if self.blas.info()[0]["num_threads"] == self.slow_threads:
            time.sleep(0.002)
        return np.zeros((len(ids), VOCAB), np.float32)


@pytest.mark.parametrize("slow_threads", [1, 2])
def test_the_steps_run_on_the_thread_count_that_runs_them_fastest(slow_threads):
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("no BLAS library that threadpoolctl can limit")
    before = blas.info()[0]["num_threads"]
    with ThreadTuned(ThreadSensitive(slow_threads), 1, candidates=(1, 2)) as tuned:
        for _ in range(2 * TUNE_ROUNDS * TUNE_BLOCK_STEPS + 1):
            tuned.step(np.zeros(1, np.int64), [])
        assert tuned.threads == 3 - slow_threads
        assert blas.info()[0]["num_threads"] == tuned.threads  # the rest run on it
    assert blas.info()[0]["num_threads"] == before  # and the library gets its count back
