"""model/stepper.py: the NumPy forward pass gives the PyTorch network's logits, step by step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from midigen.model.checkpoint import network_tensors
from midigen.model.config import ModelConfig, weight_shapes
from midigen.model.network import LanguageModel
from midigen.model.stepper import Stepper

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
