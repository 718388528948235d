"""vaecourse.recipes: the chapters' named recipes follow the smoke switch and are small in smoke mode,
and load_or_train_recipe trains each recipe once and shares one model between chapters that ask for it
under two names."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from tests.training import same_weights
from vaecourse import recipes as R

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")

RECIPES = ("mlp-mnist-2d", "mlp-mnist-20d", "conv-mnist-keras", "mlp-fashion-2d")


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_is_small_in_smoke_mode(name, monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = R.recipe(name)
    assert smoke.n_train is not None and smoke.n_train <= 1000
    assert smoke.n_test is not None and smoke.n_test <= 200
    assert smoke.epochs_for(smoke.n_train) == 1 and smoke.epochs_for(60_000) == 1
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = R.recipe(name)
    assert (full.n_train or 60_000) > smoke.n_train and (full.n_test or 10_000) > smoke.n_test
    assert full.epochs_for(full.n_train or 60_000) > 1


def test_recipe_follows_the_smoke_switch(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = R.recipe("mlp-mnist-2d")
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = R.recipe("mlp-mnist-2d")
    assert smoke.n_train is not None and full.n_train is None
    # Smoke: one epoch whatever the data; full: epochs from the image budget, 1..50.
    assert smoke.epochs_for(1000) == 1 and smoke.epochs_for(60_000) == 1
    assert full.epochs_for(4000) == 50 and full.epochs_for(60_000) == 3
    assert full.epochs_for(4000) > full.epochs_for(10_000) > full.epochs_for(60_000)
    assert R.recipe("conv-mnist-keras").model.architecture == "conv"
    assert R.recipe("conv-mnist-keras").train.binarize == "grey"
    with pytest.raises(ValueError, match="mlp-mnist-2d"):
        R.recipe("nonsense")
    assert math.isfinite(full.train.lr)


def test_load_or_train_recipe_trains_once_per_recipe(tmp_path, monkeypatch):
    """The chapters' route: a named recipe, its data set, the cache (smoke sizes)."""
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    requested = []

    def fake_dataset(name, split):
        requested.append((name, split))
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        n = 1200 if split == "train" else 300
        return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)

    monkeypatch.setattr(R, "load_dataset", fake_dataset)
    recipe = R.recipe("mlp-mnist-2d")
    first = R.load_or_train_recipe("mlp-mnist-2d", progress=False)
    second = R.load_or_train_recipe("mlp-mnist-2d", progress=False)
    assert not first.from_cache and second.from_cache and same_weights(first.model, second.model)
    assert len(first.history) == recipe.train.epochs and first.history.test_elbo[-1] is not None
    assert ("mnist", "train") in requested and first.path.name.startswith("mlp-mnist-2d-")


def test_latent_space_and_elbo_chapters_share_one_trained_model(tmp_path, monkeypatch):
    """book/latent_space.md asks for mlp-mnist-2d with hidden=256 under the cache name
    mlp-mnist-2d-h256, book/elbo.md for the recipe mlp-mnist-2d-h256: the same file, trained once."""
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    images = {
        split: torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
        for split, seed in (("train", 0), ("test", 1))
    }
    monkeypatch.setattr(R, "load_dataset", lambda name, split: (images[split], torch.zeros(300, dtype=torch.long)))
    base = R.recipe("mlp-mnist-2d")
    latent_space = R.load_or_train_recipe(
        "mlp-mnist-2d", model_config=replace(base.model, hidden=256), cache_name="mlp-mnist-2d-h256", progress=False
    )
    elbo_chapter = R.load_or_train_recipe("mlp-mnist-2d-h256", progress=False)
    assert not latent_space.from_cache and elbo_chapter.from_cache
    assert elbo_chapter.path == latent_space.path and same_weights(latent_space.model, elbo_chapter.model)
    assert elbo_chapter.model.hidden == 256 and base.model.hidden == 400


def _planned_run(monkeypatch, tmp_path, n_images: int, name: str = "mlp-mnist-2d", budget: int | None = None):
    """(epochs, training images) that load_or_train_recipe hands to load_or_train in full mode, for a
    stand-in data set of n_images (no download, no training)."""
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    blank = torch.zeros(1, 1, 28, 28)  # expanded: n images without n images' memory

    def stand_in(dataset, split):
        n = n_images if split == "train" else 100
        return blank.expand(n, -1, -1, -1), torch.zeros(n, dtype=torch.long)

    monkeypatch.setattr(R, "load_dataset", stand_in)
    if budget is not None:
        chosen = R.recipe(name)
        monkeypatch.setattr(R, "recipe", lambda _: replace(chosen, image_budget=budget))
    planned = {}

    def fake_load_or_train(model_config, train_config, train, test=None, **kwargs):
        planned.update(epochs=train_config.epochs, n_train=train.shape[0])

    monkeypatch.setattr(R, "load_or_train", fake_load_or_train)
    R.load_or_train_recipe(name, progress=False)
    return planned["epochs"], planned["n_train"]


@pytest.mark.parametrize("name", ["mlp-mnist-2d", "mlp-mnist-2d-h256", "mlp-mnist-20d", "mlp-fashion-2d"])
def test_full_mnist_stays_within_the_image_budget(name, monkeypatch, tmp_path):
    """Online (the full 60,000 training images) a chapter's model sees no more images than offline
    (the 4,000-image subset): the budget, 200,000 images, not the 600,000 of a 10-epoch floor."""
    epochs, n_train = _planned_run(monkeypatch, tmp_path, 60_000, name)
    assert n_train == 60_000 and 1 <= epochs and epochs * n_train <= 200_000
    assert epochs * n_train > 200_000 - 60_000  # and not far below it: the whole epochs that fit


def test_offline_subset_trains_as_before(monkeypatch, tmp_path):
    """The offline subset's run is unchanged (the book's numbers and the cached models): 50 epochs of
    all 4,000 images."""
    assert _planned_run(monkeypatch, tmp_path, 4000) == (50, 4000)


def test_data_set_larger_than_the_budget_is_cut_to_it(monkeypatch, tmp_path):
    """More images than the budget: one epoch over a fixed random subset of budget images (the one epoch
    cut at the budget), not one epoch of all of them."""
    assert _planned_run(monkeypatch, tmp_path, 60_000, budget=25_000) == (1, 25_000)
