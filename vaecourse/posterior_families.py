"""Families of approximate posteriors Q(h|x): diagonal Gaussian, full-covariance Gaussian, a coupling flow.

The lecture's encoder returns a Gaussian with a *diagonal* covariance. Two richer families
(book/richer_posteriors.md):

- **full covariance** :math:`Q = \\mathcal{N}(\\boldsymbol\\mu, LL^\\top)` with a lower-triangular
  Cholesky factor :math:`L` (positive diagonal :math:`e^{\\ell_j}`), reparameterised as
  :math:`\\mathbf{h} = \\boldsymbol\\mu + L\\boldsymbol\\epsilon` (label ``eq:full-covariance``), with
  :math:`\\log Q(\\mathbf{h}) = -\\tfrac12|\\boldsymbol\\epsilon|^2 - \\sum_j \\ell_j - \\tfrac k2\\log 2\\pi`;
- **flow**: a diagonal Gaussian pushed through the coupling layers of :mod:`vaecourse.flows`
  (label ``eq:change-of-variables``; Rezende & Mohamed 2015).

Every family is a map from a parameter vector ``params`` (B, n_params) per data point to a
distribution. An encoder network (:class:`AmortisedPosterior`) computes the parameters from
:math:`\\mathbf{x}`; :mod:`vaecourse.gaps` optimises them image by image. With any of them,
:func:`log_weights` gives :math:`\\log w = \\log p(\\mathbf{x}\\mid\\mathbf{h}) + \\log p(\\mathbf{h})
- \\log Q(\\mathbf{h}\\mid\\mathbf{x})`, whose mean over :math:`\\mathbf{h}\\sim Q` is the ELBO and whose
log-mean-exp is the IWAE bound (Burda et al. 2015).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaecourse.elbo import log_mean_exp
from vaecourse.flows import CouplingFlow
from vaecourse.validation import require_count

__all__ = [
    "FAMILIES",
    "DiagonalGaussian",
    "FullCovarianceGaussian",
    "FlowPosterior",
    "family",
    "AmortisedPosterior",
    "EncoderPosterior",
    "log_weights",
    "elbo_of",
    "iwae_of",
]

FAMILIES = ("diagonal", "full", "flow")
_LOG_2PI = math.log(2 * math.pi)


def _standard_normal_log_prob(eps: torch.Tensor) -> torch.Tensor:
    """:math:`\\log\\mathcal{N}(\\boldsymbol\\epsilon; 0, I)` summed over the last dim: (..., k) -> (...,)."""
    return -0.5 * eps.pow(2).sum(-1) - 0.5 * eps.shape[-1] * _LOG_2PI


class DiagonalGaussian:
    """:math:`\\mathcal{N}(\\boldsymbol\\mu, \\mathrm{diag}\\,e^{2\\log\\boldsymbol\\sigma})`.

    params = [mu (k), log sigma (k)].
    """

    name = "diagonal"

    def __init__(self, latent_dim: int = 2):
        self.latent_dim = require_count(latent_dim, "latent_dim")

    @property
    def n_params(self) -> int:
        return 2 * self.latent_dim

    def _split(self, params):
        k = self.latent_dim
        return params[..., :k], params[..., k : 2 * k]  # mu, log_sigma (B, k)

    def sample(self, params: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n reparameterised draws and their log density: (n, B, k), (n, B)."""
        mu, log_sigma = self._split(params)
        eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)  # (n, B, k)
        h = mu + torch.exp(log_sigma) * eps
        return h, _standard_normal_log_prob(eps) - log_sigma.sum(-1)

    def log_prob(self, params: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\log Q(\\mathbf{h})` at points h (..., B, k) -> (..., B)."""
        mu, log_sigma = self._split(params)
        return _standard_normal_log_prob((h - mu) * torch.exp(-log_sigma)) - log_sigma.sum(-1)

    def initial(self, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
        """Parameters of the prior N(0, I) for a batch: (B, n_params) zeros."""
        return torch.zeros(batch, self.n_params, dtype=dtype, device=device)

    def from_diagonal(self, params: torch.Tensor) -> torch.Tensor:
        """The same Gaussian as the diagonal family's ``params`` (B, 2k), in this family's parameters.

        The families are nested: a full covariance with zero entries below the diagonal, or a flow that
        is the identity, is a diagonal Gaussian. So an optimum of the diagonal family is a start for the
        richer ones from which they can only improve. Shapes: (B, 2k) -> (B, n_params).
        """
        out = self.initial(params.shape[0], params.dtype, params.device)
        out[:, : 2 * self.latent_dim] = params
        return out


class FullCovarianceGaussian(DiagonalGaussian):
    """:math:`\\mathcal{N}(\\boldsymbol\\mu, LL^\\top)`; params = [mu (k), log diag L (k), below-diagonal L (k(k-1)/2)].

    Label ``eq:full-covariance``; book/richer_posteriors.md.
    """

    name = "full"

    @property
    def n_params(self) -> int:
        k = self.latent_dim
        return 2 * k + k * (k - 1) // 2

    def scale_tril(self, params: torch.Tensor) -> torch.Tensor:
        """The Cholesky factor L (B, k, k): exp(l_j) on the diagonal, free
        entries below it."""
        k = self.latent_dim
        log_diag = params[..., k : 2 * k]  # (B, k)
        rows, cols = torch.tril_indices(k, k, offset=-1)
        shape = (*params.shape[:-1], k, k)
        tril = params.new_zeros(shape)
        tril[..., rows, cols] = params[..., 2 * k :]
        return tril + torch.diag_embed(torch.exp(log_diag))

    def covariance(self, params: torch.Tensor) -> torch.Tensor:
        """:math:`\\Sigma = LL^\\top`, (B, k, k)."""
        tril = self.scale_tril(params)
        return tril @ tril.transpose(-2, -1)

    def sample(self, params: torch.Tensor, n: int):
        """n draws h = mu + L eps (``eq:full-covariance``) and their log Q.

        Shapes: params (B, n_params) -> h (n, B, k), log Q (n, B).
        """
        k = self.latent_dim
        mu, log_diag = params[..., :k], params[..., k : 2 * k]  # (B, k) each
        tril = self.scale_tril(params)  # (B, k, k)
        eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)
        h = mu + (tril @ eps.unsqueeze(-1)).squeeze(-1)  # (n, B, k)
        log_q = _standard_normal_log_prob(eps) - log_diag.sum(-1)  # (n, B)
        return h, log_q

    def log_prob(self, params: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\log Q(\\mathbf{h})` with :math:`\\boldsymbol\\epsilon = L^{-1}(\\mathbf{h}-\\boldsymbol\\mu)`.

        (..., B, k) -> (..., B).
        """
        k = self.latent_dim
        mu, tril = params[..., :k], self.scale_tril(params)
        diff = (h - mu).unsqueeze(-1)  # (..., B, k, 1)
        eps = torch.linalg.solve_triangular(tril.expand(*diff.shape[:-2], k, k), diff, upper=False).squeeze(-1)
        return _standard_normal_log_prob(eps) - params[..., k : 2 * k].sum(-1)


class FlowPosterior(DiagonalGaussian):
    """A diagonal Gaussian :math:`Q_0` pushed through a :class:`vaecourse.flows.CouplingFlow` (2-D latent only).

    params = [mu (2), log sigma (2), the flow's parameters]; :math:`\\log Q(\\mathbf{h}) =
    \\log Q_0(\\mathbf{h}_0) - \\log|\\det \\partial T/\\partial\\mathbf{h}_0|` (``eq:change-of-variables``).
    Raises ``ValueError`` for a latent_dim other than 2.
    """

    name = "flow"

    def __init__(self, latent_dim: int = 2, n_layers: int = 4, hidden: int = 4):
        if latent_dim != 2:
            raise ValueError(f"the coupling flow is written for a 2-D latent, got latent_dim={latent_dim}")
        super().__init__(latent_dim)
        self.flow = CouplingFlow(n_layers, hidden)

    @property
    def n_params(self) -> int:
        return 4 + self.flow.n_params

    def initial(self, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
        """Parameters of the prior for a batch: Q0 = N(0, I) and the identity flow (u = 1, spread v, w = 0)."""
        params = torch.zeros(batch, self.n_params, dtype=dtype, device=device)
        flow = self.flow
        for layer in range(flow.n_layers):
            start = 4 + layer * flow.params_per_layer
            params[:, start : start + flow.hidden] = 1.0
            params[:, start + flow.hidden : start + 2 * flow.hidden] = torch.linspace(-1.5, 1.5, flow.hidden)
        return params

    def sample(self, params: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws :math:`\\mathbf{h} = T(\\mathbf{h}_0)`, :math:`\\mathbf{h}_0\\sim Q_0`, and log Q.

        (n, B, 2), (n, B).
        """
        h0, log_q0 = super().sample(params[..., :4], n)
        h, log_det = self.flow.forward(params[..., 4:], h0)
        return h, log_q0 - log_det

    def log_prob(self, params: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\log Q_0(T^{-1}(\\mathbf{h})) + \\log|\\det\\partial T^{-1}/\\partial\\mathbf{h}|`.

        (..., B, 2) -> (..., B).
        """
        h0, log_det_inverse = self.flow.inverse(params[..., 4:], h)
        return super().log_prob(params[..., :4], h0) + log_det_inverse


def family(name: str, latent_dim: int = 2):
    """The family called ``"diagonal"``, ``"full"`` or ``"flow"``; raises ``ValueError`` for another name."""
    classes = {"diagonal": DiagonalGaussian, "full": FullCovarianceGaussian, "flow": FlowPosterior}
    if name not in classes:
        raise ValueError(f"unknown posterior family {name!r}; choose one of {', '.join(FAMILIES)}")
    return classes[name](latent_dim)


class AmortisedPosterior(nn.Module):
    """An encoder network x -> params of a family: the lecture's two ReLU layers, then a linear head.

    The head starts at zero weights, with log sigma biased to -1 and the flow's output weights at zero,
    so that Q starts as a narrow Gaussian and the flow as the identity. Input (B, *data_shape);
    output (B, n_params).
    """

    def __init__(self, family_name: str, data_dim: int = 784, hidden: int = 200, latent_dim: int = 2):
        super().__init__()
        self.family = family(family_name, latent_dim)
        self.family_name, self.data_dim, self.hidden = family_name, data_dim, hidden
        self.net = nn.Sequential(nn.Linear(data_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, self.family.n_params)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[latent_dim : 2 * latent_dim] = -1.0
            if family_name == "flow":  # u = 1 so the tanh units see h; w = 0 so the flow starts as the identity
                flow = self.family.flow
                for layer in range(flow.n_layers):
                    start = 4 + layer * flow.params_per_layer
                    self.head.weight[start + 2 * flow.hidden : start + flow.params_per_layer] = 0.0
                    self.head.bias[start : start + flow.hidden] = 1.0
                    self.head.bias[start + flow.hidden : start + 2 * flow.hidden] = torch.linspace(
                        -1.5, 1.5, flow.hidden
                    )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x.flatten(1)))  # (B, n_params)


class EncoderPosterior(nn.Module):
    """The diagonal family read from a course model's own encoder: params = [mu(x), log sigma(x)]."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.family = DiagonalGaussian(model.latent_dim)
        self.family_name = "diagonal"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.model.encode(x)
        return torch.cat([q.loc, torch.log(q.scale)], -1)  # (B, 2k)


def log_weights(model, q_family, params: torch.Tensor, x: torch.Tensor, n: int) -> torch.Tensor:
    """The importance log-weights of n draws h_i ~ Q.

    :math:`\\log w_i = \\log p(\\mathbf{x}\\mid\\mathbf{h}_i) + \\log p(\\mathbf{h}_i)
    - \\log Q(\\mathbf{h}_i\\mid\\mathbf{x})`.

    ``model``: any course model (its ``log_likelihood`` and ``prior``); ``q_family`` and ``params``
    (B, n_params) say what Q is. Reparameterised, so differentiable in params and the model.
    Shapes: x (B, ...) -> (n, B). Raises ``ValueError`` for n < 1.
    """
    require_count(n, "n")
    h, log_q = q_family.sample(params, n)  # (n, B, k), (n, B)
    return model.log_likelihood(x, h) + model.prior().log_prob(h).sum(-1) - log_q


def elbo_of(model, q_family, params: torch.Tensor, x: torch.Tensor, n: int = 1) -> torch.Tensor:
    """The ELBO with Q from any family, :math:`\\frac1n\\sum_i \\log w_i` (``eq:elbo``): (B,)."""
    return log_weights(model, q_family, params, x, n).mean(0)


def iwae_of(model, q_family, params: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """The IWAE bound with Q from any family, :math:`\\log\\frac1K\\sum_i w_i` (Burda et al. 2015): (B,)."""
    return log_mean_exp(log_weights(model, q_family, params, x, k), dim=0)
