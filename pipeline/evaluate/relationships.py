"""Visual relationship evaluation (placeholder until written)."""
