"""`academy demo`: a simulated week of self-evolution, its baselines and its report."""
