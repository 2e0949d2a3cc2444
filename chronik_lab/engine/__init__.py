"""The broker: records, segments, the segment log, the registry, the buffer, produce and fetch.

Modelled on chronik's handlers and layered like Kafka's log (segment → segment log → partition).
It imports only the base modules (errors, bugs, validate), never a layer above it.
"""
