"""The training loops (``train.fit``, ``objectives.fit_together``, ``ising.conditional.train_conditional``)
draw the same random numbers and reach the same weights, bit for bit, as a plain loop written out here:
permutation, slicing, loss, ``zero_grad/backward/step``. Resume after Ctrl-C equals the uninterrupted
run; all three loops ask the course's device, report divergence as ``NonFiniteLossError`` and show a
progress bar."""

from __future__ import annotations

import math

import pytest
import torch

from tests.training import same_weights
from vaecourse import objectives, settings
from vaecourse import rate_distortion as rd
from vaecourse import train as T
from vaecourse.data import dynamic_binarize
from vaecourse.elbo import elbo_terms
from vaecourse.ising import conditional
from vaecourse.models import VAE

pytestmark = pytest.mark.usefixtures("one_thread")


def structured_images(n: int, side: int, seed: int) -> torch.Tensor:
    """Grey images in (0, 1) with some structure: a sigmoid of a random 2-D latent map."""
    g = torch.Generator().manual_seed(seed)
    w = 3 * torch.randn(side * side, 2, generator=g)
    h = torch.randn(n, 2, generator=g)
    return torch.sigmoid(h @ w.T).reshape(n, 1, side, side)


def adam(parameters, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=lr, fused=True)


def same_numbers(a: list[float], b: list[float]) -> bool:
    """Equal bit for bit, a NaN (the IWAE's rate and distortion) equal to a NaN."""
    return len(a) == len(b) and all(u == v or (math.isnan(u) and math.isnan(v)) for u, v in zip(a, b))


def history_without_seconds(history: T.History) -> dict:
    return {k: v for k, v in history.to_dict().items() if k != "seconds"}


# ----------------------------------------------------------------------------- train.fit


def plain_fit(model, x, x_test, epochs: int, batch_size: int, lr: float, seed: int, n_samples: int = 1):
    """The loop of book/pytorch_vae.md written out: dynamic binarisation, one Adam step per batch."""
    scored_test = T.prepare_test_set(x_test, "dynamic", torch.device("cpu"))
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        optimizer = adam(model.parameters(), lr)
        n = x.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            rec_sum = kl_sum = torch.zeros(())
            for start in range(0, n, batch_size):
                batch = dynamic_binarize(x[order[start : start + batch_size]], generator=generator)
                rec, kl = elbo_terms(model, batch, n_samples)
                loss = (kl - rec).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                rec_sum = rec_sum + rec.detach().sum()
                kl_sum = kl_sum + kl.detach().sum()
            test = T.dataset_elbo(model, scored_test)
            rows.append(
                (
                    float(rec_sum) / n - float(kl_sum) / n,
                    float(rec_sum) / n,
                    float(kl_sum) / n,
                    test["elbo"],
                    test["reconstruction"],
                    test["kl"],
                )
            )
    return rows


def small_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(36, 16, 2, (1, 6, 6))


@pytest.fixture(scope="module")
def images():
    return structured_images(90, 6, seed=0), structured_images(40, 6, seed=1)


@pytest.mark.parametrize("n_samples", [1, 2])
def test_fit_draws_and_steps_as_the_plain_loop(images, n_samples):
    x, x_test = images
    expected_model, fitted = small_vae(), small_vae()
    # 90 images in batches of 25: three full batches and a last one of 15
    expected = plain_fit(expected_model, x, x_test, epochs=3, batch_size=25, lr=3e-3, seed=4, n_samples=n_samples)
    config = T.TrainConfig(epochs=3, batch_size=25, lr=3e-3, seed=4, n_samples=n_samples, device="cpu")
    history = T.fit(fitted, x, config, x_test, progress=False)
    got = list(
        zip(
            history.train_elbo,
            history.train_reconstruction,
            history.train_kl,
            history.test_elbo,
            history.test_reconstruction,
            history.test_kl,
        )
    )
    assert got == expected
    assert same_weights(fitted, expected_model)


def test_resume_after_ctrl_c_is_the_uninterrupted_run(images, tmp_path):
    x, x_test = images
    config = T.TrainConfig(epochs=4, batch_size=25, lr=3e-3, seed=2, device="cpu")
    whole_model = small_vae()
    whole = T.fit(whole_model, x, config, x_test, progress=False)

    def ctrl_c(epoch, batch, loss):
        if epoch == 3 and batch == 2:
            raise KeyboardInterrupt

    path = tmp_path / "run.pt"
    stopped = T.fit(small_vae(), x, config, x_test, checkpoint=path, progress=False, callback=ctrl_c)
    assert stopped.interrupted and stopped.epoch == [1, 2]
    resumed_model = small_vae(seed=7)  # other weights: the checkpoint must replace them
    resumed = T.fit(resumed_model, x, config, x_test, checkpoint=path, resume=True, progress=False)
    assert history_without_seconds(resumed) == history_without_seconds(whole)
    assert same_weights(resumed_model, whole_model)


def test_fit_reports_a_non_finite_loss_at_its_epoch_and_batch(images):
    x, _ = images
    model = small_vae()

    def poison(epoch, batch, loss):
        if epoch == 2 and batch == 1:
            with torch.no_grad():
                model.decoder.net[-1].bias.fill_(float("inf"))

    with pytest.raises(T.NonFiniteLossError, match="epoch 2, batch 2"):
        T.fit(model, x, T.TrainConfig(epochs=3, batch_size=25, device="cpu"), progress=False, callback=poison)


# ----------------------------------------------------------------------------- objectives.fit_together


def plain_fit_together(specs, x, fit, generative=None):
    """Several models on the same batches, each with its own Adam, one model's step after another."""
    histories = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(fit.seed)
        pairs = [objectives.build(spec, generative) for spec in specs]
        optimisers = []
        for model, posterior in pairs:
            if generative is not None:
                params = list(posterior.parameters())
            else:
                params = list({id(p): p for p in [*model.parameters(), *posterior.parameters()]}.values())
            optimisers.append(adam(params, fit.lr))
        frozen = list(generative.parameters()) if generative is not None else []
        for p in frozen:
            p.requires_grad_(False)
        generator = torch.Generator().manual_seed(fit.seed)
        n = x.shape[0]
        n_batches = math.ceil(n / fit.batch_size)
        histories = [{"loss": [], "rate": [], "distortion": []} for _ in specs]
        step = 0
        for _ in range(fit.epochs):
            sums = [[0.0, 0.0, 0.0] for _ in specs]
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, fit.batch_size):
                batch = dynamic_binarize(x[order[start : start + fit.batch_size]], generator=generator)
                for i, (spec, (model, posterior), optimiser) in enumerate(zip(specs, pairs, optimisers)):
                    scale = rd.kl_weight(step, round(spec.objective.warmup_epochs * n_batches))
                    loss, rate, distortion = objectives.batch_loss(spec, model, posterior, batch, scale)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    for j, term in enumerate((float(loss.detach()), rate, distortion)):
                        sums[i][j] += term / n_batches
                step += 1
            for history, (loss, rate, distortion) in zip(histories, sums):
                history["loss"].append(loss)
                history["rate"].append(rate)
                history["distortion"].append(distortion)
        for p in frozen:
            p.requires_grad_(True)
    return pairs, histories


SPECS = [
    objectives.ModelSpec("beta", hidden=8, objective=objectives.Objective(beta=2.0, warmup_epochs=1.5, free_bits=0.1)),
    objectives.ModelSpec("flow", family="flow", hidden=8),
    objectives.ModelSpec("iwae", hidden=8, objective=objectives.Objective("iwae", k=3)),
]


@pytest.mark.parametrize("fixed_decoder", [False, True])
def test_fit_together_draws_and_steps_as_the_plain_loop(fixed_decoder):
    x = structured_images(50, 28, seed=3)
    fit = objectives.FitSettings(epochs=2, batch_size=16, lr=3e-3, seed=5)
    specs = SPECS[1:2] + [objectives.ModelSpec("full", family="full", hidden=8)] if fixed_decoder else SPECS

    def decoder():
        torch.manual_seed(11)
        return VAE(784, 8, 2, (1, 28, 28)) if fixed_decoder else None

    pairs, histories = plain_fit_together(specs, x, fit, decoder())
    trained = objectives.fit_together(specs, x, fit, decoder())
    for t, (model, posterior), history in zip(trained, pairs, histories, strict=True):
        for column, expected in history.items():
            assert same_numbers(t.history[column], expected), (t.spec.name, column)
        assert same_weights(t.posterior, posterior), t.spec.name
        assert same_weights(t.model, model), t.spec.name


# ----------------------------------------------------------------------------- ising.conditional.train_conditional


def rows_of_spins(n: int, L: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    spins = torch.where(torch.rand(n, L, L, generator=g) < 0.5, 1, -1)
    temperature = 1.0 + 2.5 * torch.rand(n, generator=g)
    return conditional.pack(spins, temperature)


def plain_train_conditional(config, rows, epochs: int, batch_size: int, lr: float, seed: int):
    elbos = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = conditional.ConditionalVAE(config)
        optimizer = adam(model.parameters(), lr)
        generator = torch.Generator().manual_seed(seed)
        n = rows.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for start in range(0, n, batch_size):
                batch = rows[order[start : start + batch_size]]
                loss = -conditional.conditional_elbo(model, batch).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total -= float(loss.detach()) * batch.shape[0]
            elbos.append(total / n)
    return model.eval(), elbos


def test_train_conditional_draws_and_steps_as_the_plain_loop():
    rows = rows_of_spins(70, 4, seed=0)
    config = conditional.ConditionalConfig(L=4, hidden=8)
    expected_model, expected = plain_train_conditional(config, rows, epochs=3, batch_size=16, lr=3e-3, seed=6)
    model, elbos = conditional.train_conditional(
        config, rows, T.TrainConfig(epochs=3, batch_size=16, lr=3e-3, seed=6, binarize="grey"), use_cache=False
    )
    assert elbos == expected
    assert same_weights(model, expected_model)


# ----------------------------------------------------------------------------- what the three loops share


def test_run_epoch_steps_once_per_batch_over_every_row():
    x = torch.arange(10.0)[:, None]  # (10, 1): row i holds i
    weight = torch.nn.Parameter(torch.ones(()))
    seen, steps = [], []

    def loss_fn(rows):
        seen.append(rows[:, 0].tolist())
        return (weight * rows).sum(), {"rows": rows.shape[0], "total": float(rows.sum())}

    sums = T.run_epoch(
        loss_fn,
        torch.optim.SGD([weight], lr=0.0),
        x,
        4,
        torch.Generator().manual_seed(0),
        epoch=3,
        on_step=lambda *args: steps.append(args),
    )
    assert [len(b) for b in seen] == [4, 4, 2] and sorted(sum(seen, [])) == list(range(10))
    assert [s[:2] for s in steps] == [(3, 0), (3, 1), (3, 2)]
    assert [s[2] for s in steps] == [sum(b) for b in seen]  # the loss of each batch
    assert sums == {"loss": sum(sum(b) * len(b) for b in seen), "rows": 10, "total": 45.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_every_loop_asks_the_courses_device(monkeypatch):
    """VAECOURSE_DEVICE=cuda without CUDA is refused by default_device; an explicit "cpu" wins over it."""
    monkeypatch.setenv("VAECOURSE_DEVICE", "cuda")
    x = structured_images(20, 28, seed=0)
    rows = rows_of_spins(20, 4, seed=0)
    config = conditional.ConditionalConfig(L=4, hidden=8)
    tiny = T.TrainConfig(epochs=1, batch_size=8, binarize="grey")
    fit = objectives.FitSettings(epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="VAECOURSE_DEVICE"):
        T.fit(small_vae(), structured_images(20, 6, seed=0), tiny)
    with pytest.raises(ValueError, match="VAECOURSE_DEVICE"):
        objectives.fit_together(SPECS[:1], x, fit)
    with pytest.raises(ValueError, match="VAECOURSE_DEVICE"):
        conditional.train_conditional(config, rows, tiny, use_cache=False)
    (trained,) = objectives.fit_together(SPECS[:1], x, fit, device="cpu")
    assert all(p.device.type == "cpu" for p in trained.model.parameters())
    conditional.train_conditional(
        config, rows, T.TrainConfig(epochs=1, batch_size=8, binarize="grey", device="cpu"), use_cache=False
    )


def test_fit_together_names_the_model_whose_loss_diverged():
    x = structured_images(20, 28, seed=0)
    specs = SPECS[:2]
    torch.manual_seed(0)
    pairs = [objectives.build(spec) for spec in specs]
    with torch.no_grad():
        pairs[1][0].decoder.net[-1].bias.fill_(float("inf"))
    with pytest.raises(T.NonFiniteLossError, match=r"epoch 1, batch 0 \(the loss of 'flow'\)\. Lower"):
        objectives.fit_together(specs, x, objectives.FitSettings(epochs=1, batch_size=8), models=pairs)


def test_train_conditional_reports_a_non_finite_loss_as_the_other_loops_do():
    rows = rows_of_spins(20, 4, seed=0)
    rows[:, 0] = float("nan")
    with pytest.raises(T.NonFiniteLossError, match=r"became nan at epoch 1, batch 0\. Lower the learning rate"):
        conditional.train_conditional(
            conditional.ConditionalConfig(L=4, hidden=8),
            rows,
            T.TrainConfig(epochs=1, batch_size=8, binarize="grey"),
            use_cache=False,
        )


def test_the_error_pickles_with_its_message():
    import pickle

    error = T.NonFiniteLossError(float("inf"), 2, 5, "; the last good checkpoint 'c.pt' is unchanged")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and (again.epoch, again.batch) == (2, 5)
    assert isinstance(again, FloatingPointError)


def test_every_loop_shows_the_same_progress_bar(capsys):
    T.fit(
        small_vae(),
        structured_images(20, 6, seed=0),
        T.TrainConfig(epochs=1, batch_size=8, device="cpu"),
        progress=True,
    )
    objectives.fit_together(
        SPECS[:1], structured_images(20, 28, seed=0), objectives.FitSettings(epochs=1, batch_size=8), progress=True
    )
    conditional.train_conditional(
        conditional.ConditionalConfig(L=4, hidden=8),
        rows_of_spins(20, 4, seed=0),
        T.TrainConfig(epochs=1, batch_size=8, binarize="grey"),
        use_cache=False,
        progress=True,
    )
    bars = capsys.readouterr().err
    for name in ("VAE", "fit_together", "ConditionalVAE"):
        assert f"{name}:   0%|          | 0/3 [" in bars  # 20 rows in batches of 8: 3 batches


def test_the_chapters_loops_show_no_bar_unless_asked(capsys, monkeypatch):
    """fit_together and train_conditional run inside chapters: in full mode too, their pages get no
    progress bar (in an executed notebook a bar is a widget, left on the website as an empty view)."""
    monkeypatch.setattr(settings, "is_smoke", lambda: False)
    objectives.fit_together(
        SPECS[:1], structured_images(20, 28, seed=0), objectives.FitSettings(epochs=1, batch_size=8)
    )
    conditional.train_conditional(
        conditional.ConditionalConfig(L=4, hidden=8),
        rows_of_spins(20, 4, seed=0),
        T.TrainConfig(epochs=1, batch_size=8, binarize="grey"),
        use_cache=False,
    )
    assert "0/3" not in capsys.readouterr().err
