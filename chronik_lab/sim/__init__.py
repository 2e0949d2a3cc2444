"""Simulated clients, the recorder, scenarios and runs, explain and sweep."""
