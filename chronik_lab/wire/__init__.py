"""The Kafka wire protocol over the engine (`cl.serve`) and real-client workloads."""
