"""Input validation: the checks the mathematics modules share, and a switch to turn them off.

Each check raises ``ValueError`` naming the offending argument and saying what to pass instead, so
that a bad input never turns into a silent NaN: a count that is not a positive integer, a
non-tensor or integer tensor, too few dimensions, NaN or inf, tensors on different devices, a
covariance that is not symmetric positive definite, a mean and covariance whose shapes disagree.

The value checks cost a device sync each. As ``torch.distributions`` has ``validate_args``, the switch
:func:`disabled` skips them, and torch.distributions' argument checks, on a hot path (``train.fit`` runs its
steps inside it and detects divergence from the loss itself); :func:`enabled` says whether they run. Shape and
count checks, which cost nothing, always run.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch

from vaecourse import resources

# Every module of the package that computes imports this one: its first use of torch. Size torch's
# thread pool to the CPUs this process may really use (a cgroup quota, the affinity mask), once.
resources.size_torch_threads()

__all__ = [
    "enabled",
    "disabled",
    "require_count",
    "require_tensor",
    "require_finite",
    "require_batch",
    "common_dtype",
    "require_spd",
    "check_mean_cov",
    "memory_limit",
    "memory_bytes",
    "memory_message",
    "require_memory",
]

_enabled = True


def enabled() -> bool:
    """Whether the value checks (NaN/inf, positive definiteness: one device sync each) run."""
    return _enabled


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Skip the value checks, and ``torch.distributions``' own argument checks, inside the ``with`` block.

    As ``validate_args=False`` does in torch (both cost a device sync per call; a diverged, NaN encoder
    output then shows in the loss instead of raising). Both switches are restored on leaving the block.

    >>> with disabled():
    ...     enabled()
    False
    """
    global _enabled
    distribution = torch.distributions.Distribution
    previous, previous_args = _enabled, distribution._validate_args
    _enabled = False
    distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        _enabled = previous
        distribution.set_default_validate_args(previous_args)


def require_count(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int; ValueError naming ``name`` unless it is an integer >= ``minimum``.

    Accepts Python and numpy integers, refuses bools, floats and strings (``2.0`` is not a count).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def require_tensor(name: str, value, min_dim: int = 0) -> torch.Tensor:
    """Return ``value`` as a floating tensor; ValueError naming ``name`` if it is unusable."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor (float32 or float64), got {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(value.shape)}")
    return value


def require_finite(name: str, value: torch.Tensor) -> None:
    """ValueError if ``value`` holds NaN or inf (one device sync; skipped when validation is disabled)."""
    if _enabled and not bool(torch.isfinite(value).all()):
        bad = "NaN" if bool(torch.isnan(value).any()) else "inf"
        raise ValueError(f"{name} contains {bad}; pass finite values")


def require_batch(name: str, value) -> torch.Tensor:
    """Return ``value``, a non-empty floating tensor (B, ...) of finite values; ValueError naming ``name`` otherwise."""
    require_tensor(name, value, min_dim=1)
    if value.shape[0] == 0:  # a mean over no rows would be a silent NaN
        raise ValueError(f"{name} is an empty batch (shape {tuple(value.shape)}); pass at least one row")
    require_finite(name, value)
    return value


def common_dtype(**tensors: torch.Tensor) -> torch.dtype:
    """The promoted floating dtype of several tensors (at least float32).

    Raises ``ValueError`` if they live on different devices.
    """
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        names = ", ".join(f"{n} on {t.device}" for n, t in tensors.items())
        raise ValueError(f"arguments live on different devices ({names}); move them to one device")
    dtype = None
    for t in tensors.values():
        dtype = t.dtype if dtype is None else torch.promote_types(dtype, t.dtype)
    # float16/bfloat16 have no Cholesky or log-determinant kernels (and too few digits for a KL):
    # they are computed in float32.
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def require_spd(name: str, cov: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of ``cov`` (..., k, k); ValueError naming ``name`` unless it is SPD (checked when enabled).

    An empty batch ``(0, k, k)`` has nothing to check and gives an empty factor of the same shape.
    """
    if not _enabled or cov.numel() == 0:  # an empty batch (0, k, k) or k = 0: nothing to check, an empty factor
        return torch.linalg.cholesky_ex(cov)[0]
    plain = cov.detach()  # the checks need no gradient
    scale = plain.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(cov.dtype).tiny)
    asym = ((plain - plain.transpose(-2, -1)).abs() / scale).amax()
    if float(asym) > 1e3 * torch.finfo(cov.dtype).eps:
        raise ValueError(
            f"{name} is not symmetric (largest relative asymmetry {float(asym):.2e}); "
            f"pass a symmetric covariance, e.g. (C + C.transpose(-2, -1)) / 2"
        )
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        diag = torch.diagonal(cov, dim1=-2, dim2=-1)
        why = (
            "it has a negative or zero variance on its diagonal"
            if bool((diag <= 0).any())
            else ("it has a non-positive eigenvalue")
        )
        raise ValueError(f"{name} is not positive definite ({why}); a covariance must be SPD")
    return chol


def check_mean_cov(mu_name: str, mu: torch.Tensor, cov_name: str, cov: torch.Tensor) -> int:
    """Check mu (..., k) and cov (..., k, k) agree; return k."""
    require_tensor(mu_name, mu, min_dim=1)
    require_tensor(cov_name, cov, min_dim=2)
    k = mu.shape[-1]
    if cov.shape[-2:] != (k, k):
        raise ValueError(
            f"{cov_name} must have shape (..., {k}, {k}) to match {mu_name} of shape {tuple(mu.shape)}, "
            f"got {tuple(cov.shape)}"
        )
    require_finite(mu_name, mu)
    require_finite(cov_name, cov)
    return k


def memory_limit(device=None) -> resources.Limit:
    """The memory ``device`` may use, and which limit it is: the GPU's memory for CUDA, else the CPU's.

    For the CPU, the memory this process may really use (:func:`vaecourse.resources.memory_limit`):
    the host's RAM, a container's cgroup limit or ``RLIMIT_AS``, whichever is smallest.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return resources.Limit(int(torch.cuda.get_device_properties(device).total_memory), "cuda")
    return resources.memory_limit()


def memory_bytes(device=None) -> int:
    """The memory of ``device`` in bytes: the GPU's for CUDA, what this process may use otherwise."""
    return memory_limit(device).value


def memory_message(nbytes: int, what: str, device=None, limit: resources.Limit | None = None) -> str:
    """``"WHAT would need about N GB, more than the M GB ...; choose smaller sizes"`` (the README's line).

    The limit named is ``limit`` or :func:`memory_limit` of ``device``, with where it comes from
    (``"... the 1.0 GB this container may use (cgroup memory.max)"``).
    """
    limit = limit or memory_limit(device)
    where = (
        f"of memory of this {torch.device(device or 'cpu').type}"
        if limit.source in ("host RAM", "cuda")
        else limit.phrase()
    )
    return (
        f"{what} would need about {nbytes / 1e9:.1f} GB, more than the {limit.value / 1e9:.1f} GB {where}; "
        "choose smaller sizes"
    )


def require_memory(nbytes: int, what: str, device=None) -> None:
    """ValueError, before anything is allocated, when ``what`` needs more than the memory of ``device``.

    The message gives the estimated size and the limit met (the host's RAM, a container's cgroup
    limit, ``RLIMIT_AS``, the GPU's memory), so that a typo (``--hidden 100000``) or a forged
    checkpoint is refused in milliseconds instead of swapping or being killed.
    """
    limit = memory_limit(device)
    if nbytes > limit.value:
        raise ValueError(memory_message(nbytes, what, device, limit))
