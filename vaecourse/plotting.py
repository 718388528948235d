"""Figures of a trained VAE: reconstructions, prior samples, the latent manifold, latent means by
label, and training curves (book/pytorch_vae.md, book/latent_space.md; the manifold and cluster plots
follow the Keras example's ``plot_latent_space`` and ``plot_label_clusters``, book/keras_vae.md).

matplotlib is imported inside each function so that ``import vaecourse`` stays light. Every function
labels its axes and returns the ``matplotlib.figure.Figure`` (close it with ``plt.close(fig)`` when
you make many). Models are :class:`vaecourse.models.VAEModel`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vaecourse import device, models
from vaecourse.models import VAEModel
from vaecourse.validation import require_count

#: One colour per class label, separable by colour-blind readers: Okabe & Ito's eight colours ("Color
#: Universal Design", 2008; Wong, Nature Methods 8, 441, 2011) and two more (grey, Tol's wine) for ten
#: classes. The widgets' scatter uses the same list (vaecourse/js/src/palette.js, LABEL_COLOURS).
CLASS_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
    "#882255",
)
#: Digits are drawn dark on a light ground, as on paper (and as the chapters' own figures draw them):
#: pixel probability 0 is white, 1 black.
DIGIT_CMAP = "gray_r"

#: One marker per class label, so that the classes differ in shape as well as colour.
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _grid_image(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Tile ``images`` (rows*cols, H, W) into one (rows*H, cols*W) picture."""
    _, height, width = images.shape
    grid = images.reshape(rows, cols, height, width).permute(0, 2, 1, 3)  # (rows, H, cols, W)
    return grid.reshape(rows * height, cols * width)


def _as_2d_images(x: torch.Tensor, data_shape: tuple) -> torch.Tensor:
    """(N, *data_shape) -> (N, H, W) for display (a flat data vector is shown as a row)."""
    x = x.detach().float().cpu().reshape(x.shape[0], *data_shape)
    if len(data_shape) == 3:
        return x[:, 0]
    if len(data_shape) == 2:
        return x
    return x.reshape(x.shape[0], 1, -1)


@torch.no_grad()
def reconstructions(model: VAEModel, x: torch.Tensor, *, sample: bool = False):
    """Originals (top row) above their reconstructions $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}]$ at
    $\\mathbf{h} = \\boldsymbol\\mu(\\mathbf{x})$ (or a sampled $\\mathbf{h}$ if ``sample``).

    ``x``: ``(n, *data_shape)`` with n <= 20 or so. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images, got shape {tuple(x.shape)}")
    x = x.to(device.of(model), torch.float32)
    q = model.encode(x)
    h = q.rsample() if sample else q.mean  # (n, latent_dim)
    recon = model.decoder_mean(h)  # (n, *data_shape)
    top = _as_2d_images(x, model.data_shape)
    bottom = _as_2d_images(recon, model.data_shape)
    n = top.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 * n, 2.4))
    picture = torch.cat([_grid_image(top, 1, n), _grid_image(bottom, 1, n)])
    ax.imshow(picture.numpy(), cmap=DIGIT_CMAP, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([top.shape[1] / 2, top.shape[1] * 1.5], ["original", "reconstruction"])
    ax.set_xlabel("image")
    ax.set_ylabel("row")
    ax.set_title("Originals and their reconstructions (decoder mean at h = mu(x))")
    fig.tight_layout()
    return fig


@torch.no_grad()
def prior_samples(model: VAEModel, n: int = 36, seed: int = 0):
    """Decoder means of ``n`` draws $\\mathbf{h}\\sim\\mathcal{N}(0, I)$, tiled in a square grid."""
    import matplotlib.pyplot as plt

    require_count(n, "n")
    generator = torch.Generator(device=device.of(model)).manual_seed(seed)
    images = _as_2d_images(model.sample(n, generator=generator), model.data_shape)  # (n, H, W)
    cols = int(n**0.5) or 1
    rows = -(-n // cols)
    padded = torch.zeros(rows * cols, *images.shape[1:])
    padded[:n] = images
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1, 0.6 * rows + 1))
    ax.imshow(_grid_image(padded, rows, cols).numpy(), cmap=DIGIT_CMAP, vmin=0, vmax=1)
    ax.axis("off")  # the tiles are independent draws: no axis to read
    ax.set_title("Samples from the prior, decoded")
    fig.tight_layout()
    return fig


@torch.no_grad()
def latent_manifold(model: VAEModel, n: int = 20, *, grid: str = "quantiles", limit: float = 1.0):
    """Decode an ``n`` x ``n`` grid of latent points (2-D latent only).

    ``grid="quantiles"``: $h_j = \\Phi^{-1}(p_j)$ at evenly spaced probabilities $p_j$, so each cell
    holds equal prior mass (Kingma & Welling 2013, fig. 4). ``grid="keras"``: evenly spaced in
    $[-\\text{limit}, \\text{limit}]^2$ with limit 1, the Keras example's ``plot_latent_space`` (only
    one prior standard deviation). Raises ``ValueError`` unless ``model.latent_dim == 2``.
    """
    import matplotlib.pyplot as plt

    if model.latent_dim != 2:
        raise ValueError(f"latent_manifold needs a 2-D latent space, the model has latent_dim={model.latent_dim}")
    if grid == "quantiles":
        p = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        values = torch.distributions.Normal(0.0, 1.0).icdf(p).float()  # (n,)
    elif grid == "keras":
        values = torch.linspace(-limit, limit, n)
    else:
        raise ValueError(f"grid must be 'quantiles' or 'keras', got {grid!r}")
    h1, h2 = torch.meshgrid(values, values.flip(0), indexing="xy")  # rows: h2 from top (high) to bottom
    h = torch.stack([h1.reshape(-1), h2.reshape(-1)], dim=-1).to(device.of(model))  # (n*n, 2)
    images = _as_2d_images(model.decoder_mean(h), model.data_shape)  # (n*n, H, W)
    picture = _grid_image(images, n, n)
    height, width = images.shape[1:]
    fig, ax = plt.subplots(figsize=(7, 7))
    lo, hi = float(values[0]), float(values[-1])
    ax.imshow(picture.numpy(), cmap=DIGIT_CMAP, vmin=0, vmax=1)
    ticks = [0, n // 2, n - 1] if n % 2 else [0, n - 1]  # a middle tick only where a grid point is at 0
    ax.set_xticks([t * width + width / 2 for t in ticks], [f"{float(values[t]):.2f}" for t in ticks])
    ax.set_yticks([t * height + height / 2 for t in ticks], [f"{float(values.flip(0)[t]):.2f}" for t in ticks])
    ax.set_xlabel("$h_1$")
    ax.set_ylabel("$h_2$")
    what = "prior quantiles" if grid == "quantiles" else f"[{lo:g}, {hi:g}]$^2$ (Keras example)"
    ax.set_title(f"Latent manifold: decoder means over {what}")
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_latent_means(
    model: VAEModel, x: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000, *, label_names=None
):
    """Scatter of the encoder means $\\boldsymbol\\mu(\\mathbf{x})$ by label, for a 2-D latent space.

    The Keras example's ``plot_label_clusters``; book/keras_vae.md and book/latent_space.md. Colour is
    never the only cue (WCAG 1.4.1): each class has its own colour (:data:`CLASS_COLOURS`, separable by
    colour-blind readers) and marker (:data:`CLASS_MARKERS`), a legend, and its name written at the
    centre of its cluster (the median of its encoder means). ``label_names`` names the classes
    (default: the label numbers, the digits for MNIST).

    Shapes: x (N, *data_shape), labels (N,).
    Raises ``ValueError`` unless ``latent_dim == 2`` and x and labels have the same length.
    """
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    if model.latent_dim != 2:
        raise ValueError(f"plot_latent_means needs a 2-D latent space, the model has latent_dim={model.latent_dim}")
    if x.shape[0] != len(labels):
        raise ValueError(f"x has {x.shape[0]} images but labels has {len(labels)} entries")
    mu = models.encoder_means(model, x, batch_size).cpu()  # (N, 2)
    labels = torch.as_tensor(labels).cpu().reshape(-1)
    fig, ax = plt.subplots(figsize=(7, 6))
    outline = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    for label in torch.unique(labels).tolist():
        members = mu[labels == label]  # (n_label, 2)
        name = str(label_names[label]) if label_names is not None else str(label)
        ax.scatter(
            members[:, 0].numpy(),
            members[:, 1].numpy(),
            s=8,
            alpha=0.7,
            linewidths=0,
            color=CLASS_COLOURS[label % len(CLASS_COLOURS)],
            marker=CLASS_MARKERS[label % len(CLASS_MARKERS)],
            label=name,
        )
        centre = torch.quantile(members, 0.5, dim=0)  # the median (the mean of the middle two for an even count)
        ax.text(
            float(centre[0]),
            float(centre[1]),
            name,
            ha="center",
            va="center",
            fontsize=15,
            fontweight="bold",
            color="black",
            path_effects=outline,
        )
    ax.legend(title="label", markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xlabel("$\\mu_1(x)$")
    ax.set_ylabel("$\\mu_2(x)$")
    ax.set_title("Encoder means of the images by label (name at each cluster's centre)")
    fig.tight_layout()
    return fig


def training_curves(history):
    """ELBO per epoch (train and test) and the two terms, from a :class:`vaecourse.train.History`."""
    import matplotlib.pyplot as plt

    if len(history.epoch) == 0:
        raise ValueError("history has no epochs to plot")
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.8))
    left.plot(history.epoch, history.train_elbo, "o-", label="train (running mean)")
    if any(v is not None for v in history.test_elbo):
        left.plot(history.epoch, history.test_elbo, "s-", label="test")
    left.set_ylabel("ELBO (nats per image)")
    left.legend()
    middle.plot(history.epoch, [-r for r in history.train_reconstruction], "o-")
    middle.set_ylabel("$-E_Q[\\log p(x|h)]$ (nats per image)")
    right.plot(history.epoch, history.train_kl, "o-", color="tab:red")
    right.set_ylabel("KL(Q || prior) (nats per image)")
    from matplotlib.ticker import MaxNLocator

    for ax in (left, middle, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def write_figures(model: VAEModel, history, test, out) -> list[Path]:
    """Save the figures of a trained model as PNG files in folder ``out``; return their paths.

    Reconstructions, prior samples, training curves (if ``history`` has epochs) and, for a 2-D
    latent, the manifold and the latent means of up to 2,000 ``test`` images ``(images, labels)``.
    What ``python -m vaecourse train`` writes. Each file is written atomically
    (:func:`vaecourse.cache.write_atomically`); a symbolic link at a figure's name is refused with
    ``FileExistsError`` naming it, never written through.
    """
    import matplotlib

    from vaecourse import cache

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    images, labels = test
    images = images[:2000].to(device.of(model))
    figs = {
        "reconstructions.png": reconstructions(model, images[:10]),
        "prior_samples.png": prior_samples(model, 36),
    }
    if len(history):
        figs["training_curves.png"] = training_curves(history)
    if model.latent_dim == 2:
        figs["latent_manifold.png"] = latent_manifold(model, n=15)
        figs["latent_means.png"] = plot_latent_means(model, images, labels[:2000])
    paths = []
    try:
        for filename, fig in figs.items():
            cache.write_atomically(out / filename, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=100))
            paths.append(out / filename)
    finally:
        for fig in figs.values():
            plt.close(fig)
    return paths


__all__ = [
    "reconstructions",
    "prior_samples",
    "latent_manifold",
    "plot_latent_means",
    "training_curves",
    "write_figures",
]
