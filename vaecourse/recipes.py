"""The chapters' named models: a recipe (data set, sizes, both configurations) per name, trained once.

``recipe("mlp-mnist-2d")`` says how a chapter's model is built and trained, and
:func:`load_or_train_recipe` returns it trained: it loads the recipe's data set, takes the recipe's
fixed random subsets and calls :func:`vaecourse.checkpoints.load_or_train`, so a second call (or
another chapter) reads the model from the cache. Smoke mode shrinks epochs and data
(:func:`vaecourse.settings.pick`). Used by book/elbo.md, book/pytorch_vae.md, book/latent_space.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from vaecourse import settings
from vaecourse.checkpoints import TrainedModel, load_or_train
from vaecourse.models import ModelConfig
from vaecourse.train import TrainConfig

DATASETS = ("mnist", "fashion-mnist")


@dataclass
class Recipe:
    """A named training set-up used by the chapters: data set, sizes and both configurations."""

    name: str
    dataset: str
    model: ModelConfig
    train: TrainConfig
    # Number of training / test images used (None = all); the smoke mode shrinks them.
    n_train: int | None = None
    n_test: int | None = None
    # Full mode only: images to show the model in total; load_or_train_recipe turns it into epochs
    # (between 10 and 50), so the 4,000-image offline subset gets more passes than the full 60,000.
    image_budget: int | None = None

    def epochs_for(self, n_images: int) -> int:
        """Epochs for a training set of n_images: the recipe's own, or image_budget / n_images."""
        if self.image_budget is None:
            return self.train.epochs
        return max(10, min(50, self.image_budget // max(n_images, 1)))


def recipe(name: str) -> Recipe:
    """The course's training set-up for a named chapter model; smoke mode shrinks epochs and data.

    Names: ``"mlp-mnist-2d"`` (the lecture's MLP, 2-D latent, dynamic binarisation),
    ``"mlp-mnist-20d"`` (20-D latent), ``"conv-mnist-keras"`` (the Keras example: ConvVAE, 2-D latent,
    grey levels), ``"mlp-fashion-2d"`` (Fashion-MNIST).

    Raises ``ValueError`` for another name.
    """
    pick = settings.pick
    n_train, n_test = pick(full=None, smoke=1000), pick(full=None, smoke=200)
    # Full mode: about 200,000 images per MLP (50 epochs of the offline subset, 10 of full MNIST,
    # a few minutes on a laptop CPU); the ConvVAE is ~10x slower per image, so it sees 10,000 images.
    mlp_budget = pick(full=200_000, smoke=None)
    one_epoch = TrainConfig(epochs=1)
    recipes = {
        "mlp-mnist-2d": Recipe(name, "mnist", ModelConfig("mlp", latent_dim=2),
                               one_epoch, n_train, n_test, mlp_budget),
        "mlp-mnist-20d": Recipe(name, "mnist", ModelConfig("mlp", latent_dim=20),
                                one_epoch, n_train, n_test, mlp_budget),
        "conv-mnist-keras": Recipe(name, "mnist", ModelConfig("conv", latent_dim=2),
                                   TrainConfig(epochs=pick(full=10, smoke=1), binarize="grey"),
                                   pick(full=10_000, smoke=1000), n_test),
        "mlp-fashion-2d": Recipe(name, "fashion-mnist", ModelConfig("mlp", latent_dim=2),
                                 one_epoch, n_train, n_test, mlp_budget),
    }
    if name not in recipes:
        raise ValueError(f"unknown model name {name!r}; choose one of {', '.join(recipes)}")
    return recipes[name]


def load_dataset(dataset: str, split: str):
    """(images (N, 1, 28, 28) in [0, 1], labels (N,)) of ``"mnist"`` or ``"fashion-mnist"``, via :mod:`vaecourse.data`.

    The Ising configurations come from :mod:`vaecourse.ising` (book/ising.md).

    Raises ``ValueError`` for another data set or a split other than ``"train"``/``"test"``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from vaecourse import data

    return data.load_mnist(split) if dataset == "mnist" else data.load_fashion_mnist(split)


def subset(pair, n: int | None, seed: int = 0):
    """A fixed random subset of n (images, labels) pairs (all of them when n is None).

    Random, not the first n: the offline MNIST subset is ordered by digit, so its first 1,000 images
    hold only three digits. The same seed gives the same subset on every run.
    """
    images, labels = pair
    if n is None or n >= images.shape[0]:
        return images, labels
    keep = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[keep], labels[keep]


def load_or_train_recipe(name: str, *, model_config: ModelConfig | None = None, cache_name: str | None = None,
                         progress: bool | None = None, force: bool = False) -> TrainedModel:
    """:func:`vaecourse.checkpoints.load_or_train` for the named model of :func:`recipe`, on its data set.

    ``model_config`` replaces the recipe's model (e.g. a narrower decoder for the website), stored
    under ``cache_name``; the cache key holds the full configuration either way.

    >>> trained = load_or_train_recipe("mlp-mnist-2d")   # doctest: +SKIP
    >>> trained.model, trained.history                    # doctest: +SKIP
    """
    chosen = recipe(name)
    train = subset(load_dataset(chosen.dataset, "train"), chosen.n_train)
    test = subset(load_dataset(chosen.dataset, "test"), chosen.n_test)
    config = replace(chosen.train, epochs=chosen.epochs_for(train[0].shape[0]))
    return load_or_train(model_config or chosen.model, config, train[0], test[0], name=cache_name or name,
                         progress=progress, force=force)


__all__ = ["Recipe", "recipe", "DATASETS", "load_dataset", "subset", "load_or_train_recipe"]
