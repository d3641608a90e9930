"""Academy: a cost-aware LLM router and the nightly evolution that makes its students better."""

__version__ = "0.1.0"
