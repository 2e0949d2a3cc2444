"""What the notebooks call beyond charts: per-page digests and the tables they show."""
