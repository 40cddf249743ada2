"""Simulators: the search engines of the environment (one small class per backend)."""

from .base import Passage, SearchRequest, SearchResult, Simulator, SimulatorFault, format_documents

__all__ = ["Passage", "SearchRequest", "SearchResult", "Simulator", "SimulatorFault", "format_documents"]
