"""Learning tests on the embedded real images: each method must measurably learn within a CPU-sized budget."""

import numpy as np
import pytest

from i2i_keras.metrics import psnr
from i2i_keras.training.loop import evaluate_psnr
from tests.methods.method_helpers import held_out_l1, learning_setup


@pytest.mark.learning
def test_pix2pix_learns_gray_to_colour_on_real_photos():
    """200 steps on the embedded gray -> colour tiles (32 px): held-out PSNR rises clearly above the untrained
    model's and the L1 error to ground truth halves. (Test tiles come from other image regions than training tiles.)"""
    model, train, test = learning_setup("pix2pix", ["model.dropout=0.0", "train.batch_size=4", "optim.g_lr=1e-3",
                                                    "optim.schedule=constant"])
    psnr_before, l1_before = evaluate_psnr(model, test, 100), held_out_l1(model, test)
    model.fit(train, steps_per_epoch=200, epochs=1, verbose=0)
    psnr_after, l1_after = evaluate_psnr(model, test, 100), held_out_l1(model, test)
    assert psnr_after > psnr_before + 6.0, (psnr_before, psnr_after)
    assert l1_after < 0.5 * l1_before, (l1_before, l1_after)
    # And the exported-style path (any size, padding) gives the same quality on a non-multiple size.
    batch = next(iter(test))
    cropped = model.translate(batch["source"][:, :30, :27])
    assert float(psnr(cropped, batch["target"][:, :30, :27])) > psnr_before + 4.0


@pytest.mark.learning
def test_cyclegan_cycle_error_falls_on_real_unpaired_images():
    """150 steps on embedded Fashion-MNIST sneakers <-> ankle boots: the A -> B -> A reconstruction error on
    held-out images falls well below its starting value, and translations are not copies of the input."""
    model, train, test = learning_setup("cyclegan", ["train.batch_size=2", "optim.schedule=constant",
                                                     "model.base_filters=8"])

    def cycle_error():
        errors = []
        for b in test:
            fake_b = model.translate(b["domain_a"], mode="a2b")
            errors.append(np.abs(np.asarray(model.translate(fake_b, mode="b2a")) - b["domain_a"]).mean())
        return float(np.mean(errors))

    before = cycle_error()
    model.fit(train, steps_per_epoch=150, epochs=1, verbose=0)
    after = cycle_error()
    assert after < 0.5 * before, (before, after)
    batch = next(iter(test))
    change = np.abs(np.asarray(model.translate(batch["domain_a"], mode="a2b")) - batch["domain_a"]).mean()
    assert change > 0.02
