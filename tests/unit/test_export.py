"""The export stage's reference logits, computed a batch at a time."""

from __future__ import annotations

import numpy as np
import torch

from ai_detector.pipeline.export import torch_logits


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    ).eval()


def test_batched_logits_equal_one_pass_in_order_with_a_short_last_batch():
    net = small_net()
    arrays = np.random.default_rng(1).normal(size=(7, 3, 12, 12)).astype(np.float32)
    with torch.inference_mode():
        whole = net(torch.from_numpy(arrays)).numpy()
    batched = torch_logits(net, arrays, batch_size=3)
    assert batched.shape == (7, 2)
    np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)
    # Every row its own image's: reversing the input reverses the output.
    np.testing.assert_allclose(torch_logits(net, arrays[::-1].copy(), 3), whole[::-1], atol=1e-6)
