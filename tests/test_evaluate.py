"""vaecourse.evaluate: IWAE lies above the ELBO and converges to log p(x) computed by quadrature (2-D
latent), its memory stays bounded, and the evaluate command scores the images a checkpoint was trained on
(grey levels stay grey)."""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.limits import GB, cgroup, run_child, was_oom_killed
from tests.training import EncoderSpy, config, synthetic_images
from vaecourse import checkpoints, cli, data, models, recipes
from vaecourse import evaluate as E
from vaecourse import train as T
from vaecourse.models import VAE, ConvVAE

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    """A small 2-D VAE trained for a few epochs, and 40 binarised test images."""
    torch.manual_seed(0)
    model = VAE(64, 32, 2, (1, 8, 8))
    config = T.TrainConfig(epochs=6, batch_size=32, lr=3e-3, device="cpu")
    T.fit(model, synthetic_images(400, 0), config)
    x = T.prepare_test_set(synthetic_images(40, 1), "dynamic", torch.device("cpu"))
    return model, x


def test_iwae_lies_between_elbo_and_quadrature_and_converges(trained):
    model, x = trained
    torch.manual_seed(1)
    x = x[:20]
    log_px = E.quadrature_gap(model, x, grid_size=301, limit=6.0)["log_px"]  # (N,)
    elbo = E.elbo_per_image(model, x, n_samples=200)  # accurate ELBO, (N,)
    repeats = {1: 100, 10: 20, 5000: 1}  # average out the noise of the small-k estimates
    gaps = {
        k: (log_px - torch.stack([E.iwae_per_image(model, x, k) for _ in range(r)]).mean(0)).mean().item()
        for k, r in repeats.items()
    }
    # The ELBO's gap is KL(Q || p(h|x)) >= 0; IWAE_k closes it as k grows (Burda et al. 2015).
    assert (log_px - elbo).mean() > 0.05
    assert E.iwae_per_image(model, x, 50).mean() > elbo.mean()
    assert gaps[1] > gaps[10] > gaps[5000]
    assert abs(gaps[5000]) < 0.05 * max(gaps[1], 0.2) + 0.02


def test_iwae_in_small_chunks_gives_the_same_estimate(trained):
    model, x = trained
    torch.manual_seed(2)
    x = x[:10]
    log_px = E.quadrature_gap(model, x)["log_px"]
    tight = E.iwae_per_image(model, x, 2000, chunk_size=2)  # 2 samples per chunk
    loose = E.iwae_per_image(model, x, 2000)  # one chunk
    for estimate in (tight, loose):
        assert abs((estimate - log_px).mean()) < 0.05


def test_quadrature_gap_is_log_px_minus_elbo(trained):
    model, x = trained
    torch.manual_seed(3)
    out = E.quadrature_gap(model, x[:8], n_samples=500)
    torch.testing.assert_close(out["gap"], out["log_px"] - out["elbo"])
    assert (out["gap"] > -0.05).all()  # KL >= 0 up to Monte Carlo error of the 500-sample ELBO


def test_evaluate_summary_and_errors(trained):
    model, x = trained
    torch.manual_seed(4)
    result = E.evaluate(model, x[:10], iwae_k=100)
    assert result.n_images == 10 and result.elbo < result.log_px_iwae <= result.log_px_quadrature + 0.1
    assert "IWAE k=100" in repr(result) and "quadrature" in repr(result)
    with pytest.raises(ValueError, match="2-D latent"):
        E.quadrature_gap(VAE(64, 8, 3, (1, 8, 8)), x)
    with pytest.raises(ValueError, match="k must be"):
        E.iwae_per_image(model, x, 0)
    with pytest.raises(ValueError, match="model expects"):
        E.elbo_per_image(model, torch.rand(3, 1, 9, 9))


@pytest.mark.parametrize("make", [lambda: VAE(784, 32, 2, (1, 28, 28)), lambda: ConvVAE(2)], ids=["mlp", "conv"])
@pytest.mark.parametrize("n, k", [(100, 5000), (100, 50), (7, 3)])
def test_iwae_memory_stays_bounded(make, n, k, monkeypatch):
    """Every call of elbo.iwae holds at most 2^22 numbers (samples x images x what one decoded sample
    holds, the rule of marginal.chunk_size), and every image is scored once with all k samples."""
    model = make()
    per_sample = _decoder_numbers(model)  # measured here by running the decoder
    calls = []
    monkeypatch.setattr(
        E._elbo,
        "iwae",
        lambda m, x, k, chunk_size: calls.append((x.shape[0], k, chunk_size)) or torch.zeros(x.shape[0]),
    )
    out = E.iwae_per_image(model, torch.rand(n, 1, 28, 28).round(), k)
    assert out.shape == (n,) and sum(size for size, _, _ in calls) == n
    assert all(
        kk == k and 1 <= chunk <= k and size * chunk * per_sample <= max(2**22, per_sample * size)
        for size, kk, chunk in calls
    )
    # the chunks are not needlessly small
    assert calls[0][2] * calls[0][0] * per_sample > 2**22 / 4 or calls[0][2] == k


def _decoder_numbers(model) -> int:
    """The numbers the decoder's layers output for one latent point, counted on a real forward pass."""
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, out: sizes.append(out.numel()))
        for m in model.decoder.modules()
        if not list(m.children())
    ]
    with torch.no_grad():
        model.decoder(torch.zeros(1, model.latent_dim))
    for hook in hooks:
        hook.remove()
    return sum(sizes)


def test_the_conv_decoder_costs_more_per_sample_than_an_image():
    """ConvVAE's feature maps (64 x 7 x 7, 32 x 14 x 14, ...) hold many images' worth of numbers per
    sample: the IWAE chunk rule must count them, or K = 5000 takes gigabytes."""
    conv, mlp = ConvVAE(2), VAE(784, 32, 2, (1, 28, 28))
    assert models.decoder_floats(conv) == _decoder_numbers(conv) > 20 * 784
    assert models.decoder_floats(mlp) == _decoder_numbers(mlp) < 3 * 784


def test_evaluate_on_a_grey_checkpoint_scores_grey_images_as_fit_did(tmp_path, monkeypatch, capsys):
    """The evaluate command binarises as the checkpoint's training did: a grey checkpoint scores grey images."""
    with warnings.catch_warnings():  # the offline MNIST subset announces itself; not this test's subject
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        test_images, _ = recipes.load_dataset("mnist", "test")
    x_test, x_train = test_images[:40], test_images[40:104]
    torch.manual_seed(0)
    model = VAE(784, 16, 3, (1, 28, 28))  # 3-D latent: no quadrature, one encoder pass per image
    spy = EncoderSpy(monkeypatch)
    path = tmp_path / "ckpt.pt"
    T.fit(model, x_train, config(epochs=1, binarize="grey"), x_test, checkpoint=path, progress=False)
    scored_by_fit = torch.cat(spy.inputs(training=False))
    spy.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        code = cli.evaluate([str(path), "--dataset", "mnist", "--n-test", "40", "--iwae-k", "0", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    scored_by_evaluate = torch.cat(spy.inputs(training=False))
    assert ((scored_by_fit > 0) & (scored_by_fit < 1)).any()  # grey levels, not 0/1
    assert torch.equal(scored_by_fit, x_test) and torch.equal(scored_by_evaluate, scored_by_fit)
    assert "grey" in capsys.readouterr().out


FULL_TEST_SET = """
import torch
from vaecourse.evaluate import evaluate
from vaecourse.models import VAE
torch.manual_seed(0)
x = torch.bernoulli(torch.full((10_000, 1, 28, 28), 0.13))  # as many images as MNIST's test set
print(evaluate(VAE(784, 400, 2, (1, 28, 28)), x, iwae_k=0))  # the full-mode 201 x 201 quadrature
"""


@pytest.mark.parametrize("what", ["cli", "10,000 images"])
def test_evaluate_with_the_full_mode_defaults_fits_a_1_gb_container(tmp_path, what):
    """A 2-D latent scored as in full mode (a 201 x 201 quadrature, IWAE k = 5000) in a real 1 GB cgroup:
    finished, not killed, and its processes never held more than 700 MB (the torch process alone ~250 MB;
    a quadrature holding the whole grid for 10,000 images held 4.2 GB)."""
    torch.manual_seed(0)
    path = checkpoints.save_checkpoint(
        tmp_path / "ckpt.pt",
        VAE(784, 400, 2, (1, 28, 28)),
        T.TrainConfig(epochs=1),
        epoch=1,
        complete=True,
        extra={"dataset": "mnist"},
    )
    argv = (
        ["-m", "vaecourse", "evaluate", str(path), "--n-test", "20", "--device", "cpu"]
        if what == "cli"
        else ["-c", FULL_TEST_SET]
    )
    with cgroup(GB) as made:
        run = run_child(argv, preexec_fn=made.join, env={"VAECOURSE_SMOKE": "0", "VAECOURSE_OFFLINE": "1"})
        peak = made.peak()
    assert not was_oom_killed(run) and run.returncode == 0, run
    assert "quadrature" in run.stdout and ("IWAE k=5000" in run.stdout or what != "cli")
    if peak is not None:
        assert peak < 700e6, f"the evaluation held {peak / 1e6:.0f} MB"
