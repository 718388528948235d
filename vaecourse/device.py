"""Automatic choice of the compute device: CUDA, then Apple MPS, then the CPU.

No module of the course hard-codes a device; they all ask :func:`default_device`, and every model
and tensor is moved with ``.to(device)``; :func:`of` is the device a model already lives on,
:func:`placement` its device and dtype. ``VAECOURSE_DEVICE`` (read in :mod:`vaecourse.settings`) or
an explicit argument overrides the choice.
"""

from __future__ import annotations

from vaecourse import settings


def default_device(override: str | None = None):
    """Return the ``torch.device`` the course will use.

    Order: the ``override`` argument, ``VAECOURSE_DEVICE``, CUDA if available, MPS if available,
    else the CPU. ``override`` is a name (``"cuda:1"``) or a ``torch.device``. A name that is not a
    device (``"gpu"``) or an unavailable choice raises ``ValueError`` saying what to use instead.
    torch's thread pool is sized to the CPUs this process may use, once (:mod:`vaecourse.resources`).
    """
    import torch

    from vaecourse import resources

    resources.size_torch_threads()

    if isinstance(override, torch.device):
        override = str(override)
    name = override or settings.device_override()
    if name is not None:
        where = "" if override else " (from VAECOURSE_DEVICE)"
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"{name!r}{where} is not a device name; use 'cpu', 'cuda', 'cuda:1' or 'mps'"
                + ("" if override else ", or unset VAECOURSE_DEVICE")
            ) from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device {name!r}{where} is not supported; use 'cpu', 'cuda' or 'mps'")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was requested but CUDA is not available here; unset VAECOURSE_DEVICE or use 'cpu'."
            )
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"numbered from 0; use 'cuda' or 'cuda:0'"
            )
        if device.type == "mps" and not _mps_available():
            raise ValueError(
                f"device {name!r} was requested but Apple MPS is not available here; "
                "unset VAECOURSE_DEVICE or use 'cpu'."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def of(model):
    """The ``torch.device`` a model's parameters live on (the CPU for a model without parameters)."""
    return placement(model)[0]


def placement(model):
    """``(device, dtype)`` of a model's parameters: where its inputs must go and in which float type.

    The one place that answers it (no caller reads ``next(model.parameters())``). A model without
    parameters is taken to live on the CPU in torch's default dtype.
    """
    import torch

    parameter = next(iter(model.parameters()), None)
    if parameter is None:
        return torch.device("cpu"), torch.get_default_dtype()
    return parameter.device, parameter.dtype


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def describe(device=None) -> str:
    """One line naming the device, e.g. ``'cpu (2 threads)'`` or ``'cuda (NVIDIA H100)'``."""
    import torch

    device = device or default_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
