"""Simulators: the search engines of the environment (one small class per backend)."""

from .base import SamplingConfig, SearchRequest, SearchResult, Simulator, SimulatorFault

__all__ = ["SamplingConfig", "SearchRequest", "SearchResult", "Simulator", "SimulatorFault"]
