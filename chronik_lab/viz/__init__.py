"""Chart data reductions and altair charts."""
