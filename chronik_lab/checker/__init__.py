"""Histories, Jepsen's anomalies, the pattern table, log invariants and the outcome counts.

Knows nothing of the engine: it reads histories from anywhere (a simulated run, a real broker's
consumer dump). Its vocabulary (duplicate, lost, ...) is the one every layer above uses.
"""
