"""Producer and consumer settings passed through to a real client, in that client's own names.

`client_config("kafka-python", "producer", {"enable_idempotence": "false"})` checks each key
against the client's own list (kafka-python's `DEFAULT_CONFIG`, aiokafka's constructor
parameters; librdkafka checks its properties itself when a client is built, so confluent-kafka's
are checked by building one that never connects) and parses text values as the client expects:
by the type of the client's default (true/false, ints, floats), text otherwise. librdkafka takes
every property as text, so confluent-kafka's values are passed as given. A bad key or value is
an InvalidArgumentError naming the client.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from chronik_lab.errors import InvalidArgumentError, one_line

__all__ = ["FETCH_WAIT_MS", "client_config", "idempotence_config", "parse_pairs"]

# How long a consumer's fetch waits at the broker for records, and a poll for them, in every
# driver. A recorded run ends one empty fetch after its last record (workload.py's `done`), so
# every run waits this long at its end: 100 ms made a 30-record run mostly waiting (0.48 s,
# 0.04 s of it CPU, with kafka-python); an idle consumer's fetches cost the broker nothing here.
FETCH_WAIT_MS = 10

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_KINDS = ("producer", "consumer")
_WORDS = {"acks": ("all",)}  # numeric settings that also take a word


# Each client's names for idempotence and for how long it waits for an answer before it gives
# up on the connection and retries (librdkafka's request.timeout.ms is the broker's ack timeout;
# its client-side one is socket.timeout.ms).
_IDEMPOTENCE = {"kafka-python": "enable_idempotence", "confluent-kafka": "enable.idempotence",
                "aiokafka": "enable_idempotence"}  # fmt: skip
_ANSWER_TIMEOUT = {"kafka-python": "request_timeout_ms", "confluent-kafka": "socket.timeout.ms",
                   "aiokafka": "request_timeout_ms"}  # fmt: skip


def idempotence_config(
    client: str, on: bool, answer_timeout_ms: int | None = None
) -> dict[str, Any]:
    """A producer config that turns `client`'s idempotence on or off, and (if given) sets how
    long it waits for an answer before it retries, in the client's own names."""
    if client not in _IDEMPOTENCE:
        raise InvalidArgumentError(f"unknown client {client!r}")
    config: dict[str, Any] = {_IDEMPOTENCE[client]: bool(on)}
    if answer_timeout_ms is not None:
        config[_ANSWER_TIMEOUT[client]] = answer_timeout_ms
    return config


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """`KEY=VALUE` texts (the CLI's --producer-config) as a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise InvalidArgumentError(f"{what} takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def client_config(client: str, kind: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`config` checked for `client`'s `kind` ("producer" | "consumer") and its values parsed."""
    if kind not in _KINDS:
        raise InvalidArgumentError(f"kind must be producer or consumer, not {kind!r}")
    if not config:
        return {}
    if not isinstance(config, Mapping):
        raise InvalidArgumentError(f"a {kind} config must be a mapping, not {config!r}")
    if client == "confluent-kafka":
        return _librdkafka(kind, dict(config))
    defaults = _defaults(client, kind)
    out = {}
    for key, value in config.items():
        if key not in defaults:
            raise InvalidArgumentError(
                f"{client} has no {kind} setting {key!r} (its names look like "
                f"{', '.join(sorted(defaults)[:4])}, ...)"
            )
        out[key] = _parse(client, key, value, defaults[key])
    return out


def _defaults(client: str, kind: str) -> dict[str, Any]:
    if client == "kafka-python":
        from kafka import KafkaConsumer, KafkaProducer

        cls = KafkaProducer if kind == "producer" else KafkaConsumer
        return dict(cls.DEFAULT_CONFIG)
    if client == "aiokafka":
        import aiokafka

        cls = aiokafka.AIOKafkaProducer if kind == "producer" else aiokafka.AIOKafkaConsumer
        params = inspect.signature(cls.__init__).parameters
        return {n: p.default for n, p in params.items() if n not in ("self", "loop", "args")}
    raise InvalidArgumentError(f"unknown client {client!r}")


def _parse(client: str, key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in _WORDS.get(key, ()):
        return text.lower()
    if isinstance(default, bool):
        return _bool(client, key, text)
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text) if not text.lstrip("-").isdigit() else int(text)
    except ValueError:
        raise InvalidArgumentError(
            f"{client} setting {key} takes a number, not {value!r}"
        ) from None
    if default is None or not isinstance(default, str):  # untyped: read it as a literal
        return _literal(text)
    return text


def _bool(client: str, key: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise InvalidArgumentError(f"{client} setting {key} takes true or false, not {text!r}")


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _librdkafka(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """librdkafka refuses an unknown property or a bad value when a client is built: build one
    without bootstrap servers (it connects nowhere) and report what it refused."""
    from confluent_kafka import Consumer, KafkaException, Producer

    quiet = logging.getLogger("chronik_lab.wire.configs.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    probe = {str(k): v for k, v in config.items()} | {"logger": quiet}
    try:
        if kind == "producer":
            Producer(probe).flush(0)
        else:
            Consumer(probe | {"group.id": probe.get("group.id", "chronik-lab-probe")}).close()
    except (KafkaException, TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"confluent-kafka {kind} config: {one_line(exc)}") from None
    return {str(k): v for k, v in config.items()}
