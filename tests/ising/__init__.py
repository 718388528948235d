"""Tests of vaecourse.ising: exact results, the samplers, the conditional VAE and the analysis of its latents."""
