"""The 2-D Ising model: Onsager's exact results, the Monte Carlo sampler, and its cached data set.

- :mod:`~vaecourse.ising.exact`         $T_c$, Onsager's energy, the spontaneous magnetisation,
  the temperature grid, energy and magnetisation per spin
- :mod:`~vaecourse.ising.sampler`       Metropolis and Swendsen-Wang updates, :func:`simulate`,
  the cached :func:`ising_dataset` and its :func:`default_dataset_config`
- :mod:`~vaecourse.ising.vae_analysis`  what a VAE learns about the Ising model (``book/ising.md``);
  not imported here, since it needs scikit-learn: ``from vaecourse.ising import vae_analysis``
- :mod:`~vaecourse.ising.conditional`   a temperature-conditioned VAE as a sampler, and the observables
  of its configurations (``book/ising_generative.md``; ``from vaecourse.ising import conditional``)
- :mod:`~vaecourse.ising.finite_size`   $T_c(L)$ on several sizes, Binder's cumulant, the extrapolation
  to the infinite lattice (``book/ising_generative.md``)

The names of ``exact`` and ``sampler`` are re-exported, so ``ising.T_C`` and ``ising.simulate`` work.
"""

from vaecourse.ising import exact, sampler
from vaecourse.ising.exact import (
    T_C,
    correlation_function,
    energy_per_spin,
    exact_enumeration,
    magnetisation,
    observables_by_temperature,
    onsager_energy,
    spontaneous_magnetisation,
    temperature_grid,
)
from vaecourse.ising.sampler import (
    ALGORITHMS,
    IsingSamples,
    cluster_labels,
    default_dataset_config,
    ising_dataset,
    metropolis_sweep,
    simulate,
    swendsen_wang_update,
)

__all__ = [*exact.__all__, *sampler.__all__]
