"""A normalising flow on a 2-D latent: affine coupling layers with a closed-form log-determinant.

A flow pushes a simple density through an invertible map :math:`T` and keeps track of the volume
change (label ``eq:change-of-variables``; Rezende & Mohamed 2015; Dinh, Sohl-Dickstein & Bengio 2017):

.. math:: \\log Q(\\mathbf{h}) = \\log Q_0(\\mathbf{h}_0) - \\log\\big|\\det \\partial T/\\partial\\mathbf{h}_0\\big|,
          \\qquad \\mathbf{h} = T(\\mathbf{h}_0).

Each coupling layer changes one coordinate :math:`d` given the other one :math:`c` (they alternate):

.. math:: h'_d = h_d\\,e^{s(h_c)} + t(h_c), \\qquad h'_c = h_c, \\qquad
          \\log|\\det J| = s(h_c),

a triangular Jacobian whose determinant is the product of its diagonal, :math:`e^{s}`. The
conditioners are tiny networks with ``hidden`` tanh units,
:math:`s(a) = \\sum_m w^s_m \\tanh(u_m a + v_m) + b^s` and the same for :math:`t` with :math:`w^t, b^t`.
Their weights are not fixed parameters of a module: they are a vector ``params`` of
:attr:`CouplingFlow.n_params` numbers per data point, which an encoder computes from
:math:`\\mathbf{x}` (book/richer_posteriors.md) or which can be optimised image by image
(:mod:`vaecourse.gaps`). So one flow object serves a batch of different maps.

Shapes: ``params`` (B, n_params); points (..., B, 2) with any leading sample dims.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["CouplingFlow"]


@dataclass(frozen=True)
class CouplingFlow:
    """``n_layers`` affine coupling layers on a 2-D latent, each with ``hidden`` tanh units per conditioner.

    >>> CouplingFlow(n_layers=4, hidden=4).n_params
    72
    """

    n_layers: int = 4
    hidden: int = 4

    def __post_init__(self) -> None:
        from vaecourse.validation import require_count

        require_count(self.n_layers, "n_layers")
        require_count(self.hidden, "hidden")

    @property
    def params_per_layer(self) -> int:
        """u, v, w_s, w_t (``hidden`` each), b_s and b_t: 4 hidden + 2 numbers."""
        return 4 * self.hidden + 2

    @property
    def n_params(self) -> int:
        return self.n_layers * self.params_per_layer

    def _check(self, params: torch.Tensor, h: torch.Tensor) -> None:
        if params.dim() != 2 or params.shape[-1] != self.n_params:
            raise ValueError(f"params must have shape (B, {self.n_params}), got {tuple(params.shape)}")
        if h.shape[-1] != 2 or h.dim() < 2 or h.shape[-2] != params.shape[0]:
            raise ValueError(
                f"points must have shape (..., {params.shape[0]}, 2) to match params, got {tuple(h.shape)}"
            )

    def _conditioner(self, params: torch.Tensor, layer: int, a: torch.Tensor):
        """s(a), t(a) of one layer: a (..., B) -> two tensors (..., B)."""
        m, size = self.hidden, self.params_per_layer
        p = params[:, layer * size : (layer + 1) * size]  # (B, 4m + 2)
        u, v = p[:, :m], p[:, m : 2 * m]  # (B, m) each
        w_s, w_t = p[:, 2 * m : 3 * m], p[:, 3 * m : 4 * m]  # (B, m) each
        b_s, b_t = p[:, 4 * m], p[:, 4 * m + 1]  # (B,)
        hidden = torch.tanh(a.unsqueeze(-1) * u + v)  # (..., B, m)
        s = (hidden * w_s).sum(-1) + b_s  # (..., B)
        t = (hidden * w_t).sum(-1) + b_t
        return s, t

    def forward(self, params: torch.Tensor, h0: torch.Tensor):
        """h = T(h0) and log|det dT/dh0| = sum over layers of s.

        Label ``eq:change-of-variables``; book/richer_posteriors.md; Dinh et
        al. 2017. Shapes: params (B, n_params), h0 (..., B, 2) -> h (..., B,
        2), log_det (..., B). Raises ``ValueError`` for mismatched shapes.
        """
        self._check(params, h0)
        h = h0
        log_det = torch.zeros_like(h0[..., 0])  # (..., B)
        for layer in range(self.n_layers):
            d, c = layer % 2, 1 - layer % 2  # changed, conditioning coordinate
            s, t = self._conditioner(params, layer, h[..., c])
            changed = h[..., d] * torch.exp(s) + t  # (..., B)
            kept = h[..., c]
            h = torch.stack([changed, kept] if d == 0 else [kept, changed], -1)
            log_det = log_det + s
        return h, log_det

    def inverse(self, params: torch.Tensor, h: torch.Tensor):
        """h0 = T^-1(h) and log|det dT^-1/dh| = -sum over layers of s.

        The layers undone in reverse order, h_d = (h'_d - t(h_c)) exp(-s(h_c)).
        Shapes: params (B, n_params), h (..., B, 2) -> h0 (..., B, 2), log_det
        (..., B). Raises ``ValueError`` for mismatched shapes.
        """
        self._check(params, h)
        log_det = torch.zeros_like(h[..., 0])  # (..., B)
        for layer in reversed(range(self.n_layers)):
            d, c = layer % 2, 1 - layer % 2
            s, t = self._conditioner(params, layer, h[..., c])
            back = (h[..., d] - t) * torch.exp(-s)
            kept = h[..., c]
            h = torch.stack([back, kept] if d == 0 else [kept, back], -1)
            log_det = log_det - s
        return h, log_det
