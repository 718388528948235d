"""The exact reference model: a linear-Gaussian latent variable model (probabilistic PCA).

.. math::

    \\mathbf{h} \\sim \\mathcal{N}(0, I_k), \\qquad
    \\mathbf{x} \\mid \\mathbf{h} \\sim \\mathcal{N}(W\\mathbf{h} + \\mathbf{b}, \\sigma^2 I_D).

Everything the lecture's derivation needs is closed-form here (Tipping & Bishop 1999; Bishop,
*Pattern Recognition and Machine Learning*, section 12.2):

- evidence :math:`p(\\mathbf{x}) = \\mathcal{N}(\\mathbf{b}, WW^\\top + \\sigma^2 I)`;
- posterior :math:`p(\\mathbf{h}\\mid\\mathbf{x}) =
  \\mathcal{N}(M^{-1}W^\\top(\\mathbf{x}-\\mathbf{b})/\\sigma^2, M^{-1})`
  with precision :math:`M = I + W^\\top W/\\sigma^2`;
- :math:`E_Q[\\log p(\\mathbf{x}\\mid\\mathbf{h})]` and its single-sample variance for Gaussian Q.

It is the ground truth for eq:marginal, eq:naive-sampling, eq:bayes-kl, eq:central, eq:exact-posterior,
eq:single-sample and eq:training-objective (book/marginal_likelihood.md,
book/bayes_rule.md and book/elbo.md) and is a :class:`vaecourse.models.LatentVariableModel`
(``latent_dim``, ``data_shape``, ``encode``, ``log_likelihood``, ``prior``; also ``decode`` and
``decoder_mean``), so :mod:`vaecourse.elbo` runs on it unchanged.

``encode(x)`` returns the best *factorised* Gaussian (minimising :math:`\\mathcal{D}[Q\\|p(h|x)]`):
the posterior mean and variances :math:`1/M_{jj}`. When the columns of ``W`` are orthogonal
(``LinearGaussian.random(..., orthogonal=True)``), :math:`M` is diagonal and this is the exact
posterior. ``with_q(shift, scale)`` gives a deliberately imperfect Q; ``with_encoder(fn)`` any Q.

:class:`ConditionalLinearGaussian` is the conditional model of the lecture's "Rearranging" slide
(``eq:conditional``): :math:`\\mathbf{h}\\mid x \\sim \\mathcal{N}(Cx + c, I)`,
:math:`y \\mid \\mathbf{h}, x \\sim \\mathcal{N}(W\\mathbf{h} + Vx + \\mathbf{b}, \\sigma^2 I)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vaecourse.validation import require_finite, require_tensor

__all__ = ["LinearGaussian", "ConditionalLinearGaussian"]


def _positive_scalar(name: str, value, like: torch.Tensor) -> torch.Tensor:
    """A positive, finite 0-dim tensor of ``like``'s dtype/device; ValueError naming ``name``."""
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if tensor.dim() != 0:
        raise ValueError(f"{name} must be a scalar, got shape {tuple(tensor.shape)}")
    value_ = float(tensor.detach())
    if not math.isfinite(value_) or value_ <= 0:
        raise ValueError(f"{name} must be a positive, finite number (a standard deviation), got {value_}")
    return tensor


def _check_data(name: str, x: torch.Tensor, dim: int) -> None:
    require_tensor(name, x, min_dim=1)
    if x.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got {tuple(x.shape)}")
    require_finite(name, x)


def _gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) summed over the last dim; x and mean broadcast."""
    d = x.shape[-1]
    return -0.5 * ((x - mean) / sigma).pow(2).sum(-1) - d * (torch.log(sigma) + 0.5 * math.log(2 * math.pi))


class LinearGaussian:
    """h ~ N(0, I_k), x = W h + b + N(0, sigma^2 I_D): p(x), p(h|x) and every KL in closed form.

    Arguments: ``W`` (data_dim, latent_dim), ``b`` (data_dim,), ``sigma`` > 0 (noise standard
    deviation); ``q_shift``, ``q_scale`` perturb the mean and standard deviation of the Q returned
    by :meth:`encode` (0 and 1 give the best factorised Q); ``encoder`` replaces Q altogether
    (a callable x -> ``Normal`` with batch shape (..., latent_dim)).

    Data ``x`` may be one vector (data_dim,) or a batch (..., data_dim); latent samples ``h`` may
    carry extra leading sample dimensions, e.g. (S, B, latent_dim) against x (B, data_dim).

    Raises ``ValueError`` naming the argument for shapes that do not fit, NaN/inf, sigma <= 0.
    """

    def __init__(
        self,
        W: torch.Tensor,
        b: torch.Tensor,
        sigma: float | torch.Tensor,
        q_shift: float = 0.0,
        q_scale: float = 1.0,
        encoder: Callable[[torch.Tensor], Normal] | None = None,
    ):
        require_tensor("W", W, min_dim=2)
        if W.dim() != 2:
            raise ValueError(f"W must have shape (data_dim, latent_dim), got {tuple(W.shape)}")
        require_tensor("b", b, min_dim=1)
        if b.shape != W.shape[:1]:
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W {tuple(W.shape)}, got {tuple(b.shape)}")
        require_finite("W", W)
        require_finite("b", b)
        self.W = W
        self.b = b.to(W.dtype)
        self.sigma = _positive_scalar("sigma", sigma, W)
        if not math.isfinite(q_shift):
            raise ValueError(f"q_shift must be finite, got {q_shift}")
        if not (math.isfinite(q_scale) and q_scale > 0):
            raise ValueError(f"q_scale must be a positive number, got {q_scale}")
        self.q_shift = float(q_shift)
        self.q_scale = float(q_scale)
        self.encoder = encoder
        self.data_dim, self.latent_dim = W.shape
        self.data_shape = (self.data_dim,)

    # ---------------------------------------------------------------- construction
    @classmethod
    def random(
        cls,
        data_dim: int,
        latent_dim: int,
        sigma: float = 0.5,
        orthogonal: bool = True,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> LinearGaussian:
        """A random model with a fixed ``seed``; orthogonal columns of W make :meth:`encode` exact.

        Column norms are drawn in [0.5, 2] so that the posterior is neither the prior nor a point.
        """
        if latent_dim < 1 or data_dim < 1:
            raise ValueError(f"data_dim and latent_dim must be >= 1, got {data_dim}, {latent_dim}")
        if orthogonal and latent_dim > data_dim:
            raise ValueError(f"orthogonal columns need latent_dim <= data_dim, got {latent_dim} > {data_dim}")
        gen = torch.Generator().manual_seed(seed)
        raw = torch.randn(data_dim, latent_dim, generator=gen, dtype=torch.float64)
        if orthogonal:
            basis, _ = torch.linalg.qr(raw)  # (D, k), orthonormal columns
            norms = 0.5 + 1.5 * torch.rand(latent_dim, generator=gen, dtype=torch.float64)
            W = basis * norms  # (D, k), W^T W diagonal
        else:
            W = raw
        b = 0.5 * torch.randn(data_dim, generator=gen, dtype=torch.float64)
        return cls(W.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype), sigma)

    def with_q(self, shift: float = 0.0, scale: float = 1.0) -> LinearGaussian:
        """The same model whose :meth:`encode` is off by ``shift`` in the mean and ``scale`` in the std."""
        return LinearGaussian(self.W, self.b, self.sigma, q_shift=shift, q_scale=scale)

    def with_encoder(self, encoder: Callable[[torch.Tensor], Normal]) -> LinearGaussian:
        """The same model with an arbitrary Q: ``encoder(x)`` must return a ``Normal`` (..., latent_dim)."""
        return LinearGaussian(self.W, self.b, self.sigma, encoder=encoder)

    def to(self, device=None, dtype=None) -> LinearGaussian:
        """A copy on another device / in another floating dtype."""
        return LinearGaussian(
            self.W.to(device=device, dtype=dtype),
            self.b.to(device=device, dtype=dtype),
            float(self.sigma.detach()),
            q_shift=self.q_shift,
            q_scale=self.q_scale,
            encoder=self.encoder,
        )

    def sample(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs from p(h) p(x|h) with a fixed ``seed``: returns x (n, data_dim), h (n, latent_dim)."""
        gen = torch.Generator().manual_seed(seed)
        h = torch.randn(n, self.latent_dim, generator=gen, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=gen, dtype=torch.float64)
        h = h.to(device=self.W.device, dtype=self.W.dtype)
        x = self.decoder_mean(h) + self.sigma * noise.to(device=self.W.device, dtype=self.W.dtype)
        return x, h

    # ---------------------------------------------------------------- vaecourse.models.LatentVariableModel
    def prior(self) -> Normal:
        """p(h) = N(0, I): a ``Normal`` with batch shape (latent_dim,)."""
        zeros = torch.zeros(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        return Normal(zeros, torch.ones_like(zeros))

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[x | h] = W h + b: h (..., latent_dim) -> (..., data_dim)."""
        flat = h.reshape(-1, self.latent_dim)  # (N, k): one plain matrix product, also for expanded h
        return (flat @ self.W.T + self.b).reshape(*h.shape[:-1], self.data_dim)

    def decode(self, h: torch.Tensor) -> Independent:
        """p(x | h) as a distribution over x with event shape (data_dim,)."""
        mean = self.decoder_mean(h)  # (..., D)
        return Independent(Normal(mean, self.sigma.expand_as(mean)), 1)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """log p(x | h) summed over data dims: x (B, D) with h (S, B, k) -> (S, B); h (B, k) -> (B,)."""
        return _gaussian_log_likelihood(x, self.decoder_mean(h), self.sigma)

    def encode(self, x: torch.Tensor) -> Normal:
        """Q(h | x): the best factorised Gaussian (exact when W^T W is diagonal), shifted/scaled by q_shift/q_scale.

        Shapes: x (..., data_dim) -> ``Normal`` with batch shape (..., latent_dim).
        """
        _check_data("x", x, self.data_dim)
        if self.encoder is not None:
            return self.encoder(x)
        mean = self.posterior_mean(x) + self.q_shift  # (..., k)
        precision_diag = torch.diagonal(self.posterior_precision())  # (k,)
        std = self.q_scale / torch.sqrt(precision_diag)
        return Normal(mean, std.expand_as(mean))

    # ---------------------------------------------------------------- exact quantities
    def log_joint(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """log p(x, h) = log p(x | h) + log p(h); shapes as :meth:`log_likelihood`."""
        return self.log_likelihood(x, h) + self.prior().log_prob(h).sum(-1)

    def marginal_cov(self) -> torch.Tensor:
        """Covariance of p(x): W W^T + sigma^2 I, shape (data_dim, data_dim)."""
        eye = torch.eye(self.data_dim, dtype=self.W.dtype, device=self.W.device)
        return self.W @ self.W.T + self.sigma**2 * eye

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I), event shape (data_dim,)."""
        return MultivariateNormal(self.b, covariance_matrix=self.marginal_cov())

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x): x (..., data_dim) -> (...,)."""
        _check_data("x", x, self.data_dim)
        return self.marginal().log_prob(x)

    def posterior_precision(self) -> torch.Tensor:
        """M = I + W^T W / sigma^2, the inverse posterior covariance, shape (latent_dim, latent_dim)."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        return eye + self.W.T @ self.W / self.sigma**2

    def posterior_cov(self) -> torch.Tensor:
        """Cov[h | x] = M^-1 (the same for every x), shape (latent_dim, latent_dim)."""
        return torch.cholesky_inverse(torch.linalg.cholesky(self.posterior_precision()))

    def posterior_mean(self, x: torch.Tensor) -> torch.Tensor:
        """E[h | x] = M^-1 W^T (x - b) / sigma^2: x (..., data_dim) -> (..., latent_dim)."""
        _check_data("x", x, self.data_dim)
        return ((x - self.b) @ self.W / self.sigma**2) @ self.posterior_cov().T

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """The exact p(h | x) as a ``MultivariateNormal`` with batch shape x.shape[:-1]."""
        mean = self.posterior_mean(x)
        return MultivariateNormal(mean, covariance_matrix=self.posterior_cov().expand(*mean.shape, self.latent_dim))

    def expected_log_likelihood(self, x: torch.Tensor, q) -> torch.Tensor:
        """E_{h~Q}[log p(x|h)] in closed form, for a ``Normal`` (diagonal) or ``MultivariateNormal`` Q.

        .. math:: -\\tfrac{D}{2}\\log(2\\pi\\sigma^2)
                  - \\frac{\\|x - W m - b\\|^2 + \\operatorname{tr}(W S W^\\top)}{2\\sigma^2}

        Shapes: x (..., data_dim), Q with batch shape (..., latent_dim) -> (...,).
        """
        _check_data("x", x, self.data_dim)
        if isinstance(q, MultivariateNormal):
            mean, spread = q.mean, ((q.covariance_matrix @ self.W.T) * self.W.T).sum((-2, -1))
        else:
            mean, spread = q.mean, (q.variance * self.W.pow(2).sum(0)).sum(-1)
        at_mean = _gaussian_log_likelihood(x, self.decoder_mean(mean), self.sigma)
        return at_mean - 0.5 * spread / self.sigma**2

    def log_likelihood_variance(self, x: torch.Tensor, q: Normal) -> torch.Tensor:
        """Var_{h~Q}[log p(x|h)] of a single-sample estimate, in closed form, for diagonal Q.

        With a = x - b - W m and A = W diag(s), log p(x|h) = c - ||a - A eps||^2 / (2 sigma^2), and
        Var = (2 tr((A^T A)^2) + 4 ||A^T a||^2) / (4 sigma^4) (moments of a Gaussian quadratic form).

        Shapes: x (..., data_dim), Q batch (..., latent_dim) -> (...,).
        """
        a = x - self.decoder_mean(q.mean)  # (..., D)
        A = self.W * q.stddev.unsqueeze(-2)  # (..., D, k)
        gram = A.transpose(-2, -1) @ A  # (..., k, k)
        quad = 2 * gram.pow(2).sum((-2, -1)) + 4 * (a.unsqueeze(-2) @ A).pow(2).sum((-2, -1))
        return quad / (4 * self.sigma**4)

    def prior_sampling_ess_fraction(self, x: torch.Tensor) -> torch.Tensor:
        """Large-sample ESS / S of importance sampling from the prior: (E w)^2 / E w^2, w = p(x|h).

        E_p(h)[w] = p(x) and E_p(h)[w^2] = (4 pi sigma^2)^(-D/2) N(x; b, W W^T + sigma^2/2 I), so the
        fraction is exact (``eq:naive-sampling``, book/marginal_likelihood.md). x (..., D) -> (...,).
        """
        eye = torch.eye(self.data_dim, dtype=self.W.dtype, device=self.W.device)
        half = MultivariateNormal(self.b, covariance_matrix=self.W @ self.W.T + 0.5 * self.sigma**2 * eye)
        log_ew2 = -0.5 * self.data_dim * torch.log(4 * math.pi * self.sigma**2) + half.log_prob(x)
        return torch.exp(2 * self.log_px(x) - log_ew2)


class ConditionalLinearGaussian:
    """The conditional model of ``eq:conditional``: h | x ~ N(C x + c, I), y | h, x ~ N(W h + V x + b, sigma^2 I).

    Shapes: ``W`` (y_dim, latent_dim), ``V`` (y_dim, x_dim), ``C`` (latent_dim, x_dim), ``b``
    (y_dim,), ``c`` (latent_dim,). Inputs x (..., x_dim), outputs y (..., y_dim), latents
    h (..., latent_dim) with optional leading sample dims. book/bayes_rule.md.
    """

    def __init__(self, W, V, C, b, c, sigma):
        for name, value in {"W": W, "V": V, "C": C}.items():
            require_tensor(name, value, min_dim=2)
            require_finite(name, value)
        self.y_dim, self.latent_dim = W.shape
        self.x_dim = V.shape[1]
        if V.shape != (self.y_dim, self.x_dim) or C.shape != (self.latent_dim, self.x_dim):
            raise ValueError(f"shapes do not fit: W {tuple(W.shape)}, V {tuple(V.shape)}, C {tuple(C.shape)}")
        if b.shape != (self.y_dim,) or c.shape != (self.latent_dim,):
            raise ValueError(
                f"b must be ({self.y_dim},) and c ({self.latent_dim},); got {tuple(b.shape)}, {tuple(c.shape)}"
            )
        self.W, self.V, self.C, self.b, self.c = W, V, C, b, c
        self.sigma = _positive_scalar("sigma", sigma, W)

    @classmethod
    def random(
        cls,
        x_dim: int = 3,
        y_dim: int = 5,
        latent_dim: int = 2,
        sigma: float = 0.7,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device=None,
    ) -> ConditionalLinearGaussian:
        """A random conditional model with a fixed ``seed``."""
        gen = torch.Generator().manual_seed(seed)

        def draw(*shape):
            return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)

        return cls(
            draw(y_dim, latent_dim),
            0.5 * draw(y_dim, x_dim),
            0.5 * draw(latent_dim, x_dim),
            0.3 * draw(y_dim),
            0.3 * draw(latent_dim),
            sigma,
        )

    def prior_mean(self, x: torch.Tensor) -> torch.Tensor:
        """E[h | x] = C x + c: (..., x_dim) -> (..., latent_dim)."""
        return x @ self.C.T + self.c

    def log_prior(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(h | x), summed over latent dims: (..., latent_dim) -> (...,)."""
        return _gaussian_log_likelihood(h, self.prior_mean(x), torch.ones_like(self.sigma))

    def log_likelihood(self, y: torch.Tensor, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(y | h, x) summed over y dims: (...,)."""
        return _gaussian_log_likelihood(y, h @ self.W.T + x @ self.V.T + self.b, self.sigma)

    def log_py(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(y | x) = log N(y; W(Cx + c) + V x + b, W W^T + sigma^2 I): (...,)."""
        eye = torch.eye(self.y_dim, dtype=self.W.dtype, device=self.W.device)
        mean = self.prior_mean(x) @ self.W.T + x @ self.V.T + self.b
        return MultivariateNormal(mean, covariance_matrix=self.W @ self.W.T + self.sigma**2 * eye).log_prob(y)

    def posterior(self, y: torch.Tensor, x: torch.Tensor) -> MultivariateNormal:
        """Exact p(h | x, y) = N(m + M^-1 W^T (y - W m - V x - b) / sigma^2, M^-1), m = C x + c."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        cov = torch.linalg.inv(eye + self.W.T @ self.W / self.sigma**2)  # (k, k)
        m = self.prior_mean(x)  # (..., k)
        residual = y - m @ self.W.T - x @ self.V.T - self.b  # (..., y_dim)
        mean = m + (residual @ self.W / self.sigma**2) @ cov.T
        return MultivariateNormal(mean, covariance_matrix=cov.expand(*mean.shape, self.latent_dim))
