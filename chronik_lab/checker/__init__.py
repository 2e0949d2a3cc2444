"""Histories, Jepsen's anomalies, the pattern table, log invariants and the outcome counts.

Knows nothing of the engine: it reads histories from anywhere (a simulated run, a real broker's
consumer dump, dump.py). Its vocabulary (duplicate, redelivered, lost: counts.py, Jepsen's
meanings) is the one every layer above uses.
"""
