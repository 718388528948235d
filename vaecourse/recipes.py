"""Trained models, cached: :func:`load_or_train`, and the chapters' named models (a recipe per name).

:func:`load_or_train` returns the model trained by :func:`vaecourse.train.fit` for two
configurations and the data, training only when its checkpoint is missing from the cache
(:mod:`vaecourse.cache`) or unfinished (book/pytorch_vae.md).
``recipe("mlp-mnist-2d")`` says how a chapter's model is built and trained, and
:func:`load_or_train_recipe` returns it trained: it loads the recipe's data set, takes the recipe's
fixed random subsets and calls :func:`load_or_train`, so a second call (or
another chapter) reads the model from the cache. Smoke mode shrinks epochs and data
(:func:`vaecourse.settings.pick`). Used by book/elbo.md, book/pytorch_vae.md, book/latent_space.md.
The cache key is the configuration and the data, so chapters that ask for the same recipe share one
trained model (book/elbo.md and book/latent_space.md: ``mlp-mnist-2d-h256``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vaecourse import cache, data, settings
from vaecourse import train as loop  # `train` names the training images below
from vaecourse.checkpoints import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    update_checkpoint,
)
from vaecourse.config import TrainConfig
from vaecourse.models import ModelConfig, build_model

DATASETS = ("mnist", "fashion-mnist")


# ----------------------------------------------------------------------------- the trained-model cache


def cache_key(model_config: ModelConfig, train_config: TrainConfig, data_id: str) -> str:
    """The trained model's :func:`vaecourse.cache.key`: the model configuration, the training settings
    that change the weights (:meth:`vaecourse.config.TrainConfig.fields_that_change_weights`), the
    data identity and the package version (SHA-256, 64 hex digits)."""
    return cache.key(
        {"model": model_config.to_dict(), "train": train_config.fields_that_change_weights()}, data=data_id
    )


@dataclass
class TrainedModel:
    """A trained model, its history, the checkpoint file, and whether it came from the cache."""

    model: torch.nn.Module
    history: loop.History
    path: Path
    from_cache: bool

    def __repr__(self) -> str:  # the file name only: a notebook's output shows no machine's folders
        source = "loaded from the cache" if self.from_cache else "trained now"
        return (
            f"TrainedModel({type(self.model).__name__}, {len(self.history)} epochs, {source}, file={self.path.name!r})"
        )


def load_or_train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    train,
    test=None,
    *,
    name: str = "model",
    data_id: str | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> TrainedModel:
    """Return the trained model for these configurations and data, training only on a cache miss.

    The file is ``vaecourse.cache.cache_file("models", name, key)`` where ``key`` is :func:`cache_key`
    (``data_id`` defaults to :func:`vaecourse.cache.fingerprint` of the ``train`` and ``test`` images).
    A run stopped half-way (Ctrl-C) resumes from its checkpoint on the next call. ``force`` retrains.
    A damaged or foreign entry is retrained with a :class:`vaecourse.cache.CacheRebuiltWarning` when
    that is cheap (:func:`vaecourse.cache.cheap_to_train`), otherwise it raises a
    :class:`vaecourse.checkpoints.CheckpointError` saying to pass ``force=True`` or delete the file.
    :func:`load_or_train_recipe` does the same for a chapter's named model.

    Shapes: ``train``, ``test`` images ``(N, *data_shape)`` in [0, 1] (or ``(images, labels)``).
    """
    data_id = data_id or cache.fingerprint(data.images_of(train), None if test is None else data.images_of(test))
    key = cache_key(model_config, train_config, data_id)
    path = cache.cache_file("models", name, key)

    def load(entry: Path) -> dict:
        ckpt = load_checkpoint(entry)
        if ckpt["complete"] and ckpt.get("extra", {}).get("cache_key") != key:
            raise CheckpointError(f"{entry.name} holds another model (its cache key differs)")
        return ckpt

    cheap = cache.cheap_to_train(train_config.epochs, data.images_of(train).shape[0])
    ckpt = cache.load_entry(path, load, cheap=cheap, what=f"model {name!r}", force=force)
    if ckpt is not None and ckpt["complete"]:
        model = model_from_checkpoint(ckpt, train_config.device)
        model.eval()
        return TrainedModel(model, loop.History.from_dict(ckpt["history"]), path, True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train_config.seed)  # the initial weights depend on the seed only
        model = build_model(model_config)
    history = loop.fit(model, train, train_config, test, checkpoint=path, resume=ckpt is not None, progress=progress)
    if history.interrupted:
        return TrainedModel(model, history, path, False)
    update_checkpoint(path, complete=True, extra={"cache_key": key, "name": name, "data_id": data_id})
    return TrainedModel(model, history, path, False)


# ----------------------------------------------------------------------------- the chapters' named models


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
    # Full mode only: at most this many images shown to the model in total, whatever the data set's size
    # (the same training time online, with the full 60,000 MNIST images, and offline, with the 4,000 of
    # the offline subset). load_or_train_recipe turns it into epochs (train_size_for, epochs_for).
    image_budget: int | None = None

    def train_size_for(self, n_images: int) -> int:
        """Training images used out of n_images: all of them, or image_budget when there are more.

        A fixed random subset of image_budget images (:func:`subset`) for one epoch is the run of one
        epoch over all n_images cut after image_budget images, in another order.
        """
        if self.image_budget is None:
            return n_images
        return min(n_images, self.image_budget)

    def epochs_for(self, n_images: int) -> int:
        """Epochs for a training set of n_images: the recipe's own, or image_budget // n_images (1 to 50).

        With train_size_for, the images seen, epochs_for(n) * train_size_for(n), never exceed image_budget:
        50 epochs of the 4,000-image offline subset, 3 of the full 60,000 MNIST images.
        """
        if self.image_budget is None:
            return self.train.epochs
        return max(1, min(50, self.image_budget // max(n_images, 1)))

    def images_seen(self, n_images: int) -> int:
        """Images the model is shown when trained on a data set of n_images: epochs times images used."""
        return self.epochs_for(n_images) * self.train_size_for(n_images)


def recipe(name: str) -> Recipe:
    """The course's training set-up for a named chapter model; smoke mode shrinks epochs and data.

    Names: ``"mlp-mnist-2d"`` (the lecture's MLP, 2-D latent, dynamic binarisation), ``"mlp-mnist-2d-h256"``
    (the same with 256 hidden units: book/latent_space.md's website model, which book/elbo.md shares, so that it
    is trained once), ``"mlp-mnist-20d"`` (20-D latent), ``"conv-mnist-keras"`` (the Keras example: ConvVAE, 2-D
    latent, grey levels), ``"mlp-fashion-2d"`` (Fashion-MNIST).

    Raises ``ValueError`` for another name.
    """
    pick = settings.pick
    n_train, n_test = pick(full=None, smoke=1000), pick(full=None, smoke=200)
    # Full mode: at most 200,000 images per MLP (50 epochs of the offline subset, 3 of full MNIST,
    # a few minutes on a laptop CPU); the ConvVAE is ~10x slower per image, so it sees 10,000 images.
    mlp_budget = pick(full=200_000, smoke=None)
    one_epoch = TrainConfig(epochs=1)
    recipes = {
        "mlp-mnist-2d": Recipe(name, "mnist", ModelConfig("mlp", latent_dim=2), one_epoch, n_train, n_test, mlp_budget),
        "mlp-mnist-2d-h256": Recipe(
            name, "mnist", ModelConfig("mlp", latent_dim=2, hidden=256), one_epoch, n_train, n_test, mlp_budget
        ),
        "mlp-mnist-20d": Recipe(
            name, "mnist", ModelConfig("mlp", latent_dim=20), one_epoch, n_train, n_test, mlp_budget
        ),
        "conv-mnist-keras": Recipe(
            name,
            "mnist",
            ModelConfig("conv", latent_dim=2),
            TrainConfig(epochs=pick(full=10, smoke=1), binarize="grey"),
            pick(full=10_000, smoke=1000),
            n_test,
        ),
        "mlp-fashion-2d": Recipe(
            name, "fashion-mnist", ModelConfig("mlp", latent_dim=2), one_epoch, n_train, n_test, mlp_budget
        ),
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


def load_or_train_recipe(
    name: str,
    *,
    model_config: ModelConfig | None = None,
    cache_name: str | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> TrainedModel:
    """:func:`load_or_train` for the named model of :func:`recipe`, on its data set.

    ``model_config`` replaces the recipe's model (e.g. a narrower decoder for the website), stored
    under ``cache_name``; the cache key holds the full configuration either way.

    >>> trained = load_or_train_recipe("mlp-mnist-2d")   # doctest: +SKIP
    >>> trained.model, trained.history                    # doctest: +SKIP
    """
    chosen = recipe(name)
    train = subset(load_dataset(chosen.dataset, "train"), chosen.n_train)
    train = subset(train, chosen.train_size_for(train[0].shape[0]))  # all of them unless over the budget
    test = subset(load_dataset(chosen.dataset, "test"), chosen.n_test)
    config = replace(chosen.train, epochs=chosen.epochs_for(train[0].shape[0]))
    return load_or_train(
        model_config or chosen.model, config, train[0], test[0], name=cache_name or name, progress=progress, force=force
    )


__all__ = [
    "DATASETS",
    "Recipe",
    "TrainedModel",
    "cache_key",
    "load_dataset",
    "load_or_train",
    "load_or_train_recipe",
    "recipe",
    "subset",
]
