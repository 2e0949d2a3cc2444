"""Validation of user arguments, so bad input fails before any state moves."""

from __future__ import annotations

import os
import re

from chronik_lab.errors import InvalidArgumentError, InvalidPartitionError, InvalidTopicError

# Kafka's rule (kafka.common.internals.Topic): legal characters, at most 249 of them, and not
# "." or "..". It also guarantees that a topic directory cannot escape data_dir.
_TOPIC_RE = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_MAX_PARTITION = 2**31 - 1  # Kafka partitions are int32


def topic_name(topic: object) -> str:
    """The topic as an exact str: a str subclass's own __str__ or __format__ never builds a
    path (str.__str__ copies the characters that were validated)."""
    if not isinstance(topic, str):
        raise InvalidTopicError(topic, f"must be str, not {type(topic).__name__}")
    if topic in (".", ".."):
        raise InvalidTopicError(topic, "'.' and '..' are not allowed")
    if not _TOPIC_RE.fullmatch(topic):
        raise InvalidTopicError(topic, "use 1 to 249 characters of [a-zA-Z0-9._-]")
    return str.__str__(topic)


def partition_number(partition: object) -> int:
    if isinstance(partition, bool) or not isinstance(partition, int):
        raise InvalidPartitionError(partition)
    if not 0 <= partition <= _MAX_PARTITION:
        raise InvalidPartitionError(partition)
    return int.__int__(partition)  # an exact int, whatever an int subclass's __format__ says


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, not {value!r}")
    return value


def callable_or_none(value: object, name: str) -> object:
    if value is not None and not callable(value):
        raise InvalidArgumentError(f"{name} must be None or a callable, not {value!r}")
    return value


def directory_path(value: object, name: str) -> str:
    """A path given as str or os.PathLike: not empty (that would be the current directory)
    and without NUL (no file system accepts it)."""
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidArgumentError(f"{name} must be a path, not {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{name} must be a str path, not {type(text).__name__}")
    if not text:
        raise InvalidArgumentError(f"{name} must not be empty (use '.' for the current directory)")
    if "\x00" in text:
        raise InvalidArgumentError(f"{name} {text!r} holds a NUL character")
    return text


def acks_value(acks: object, error: type[InvalidArgumentError] = InvalidArgumentError) -> int:
    if isinstance(acks, bool) or not isinstance(acks, int) or acks not in (0, 1, -1):
        raise error(f"acks must be 0, 1 or -1, not {acks!r}")
    return int(acks)  # type: ignore[arg-type]


def int_at_least(
    value: object, name: str, minimum: int, error: type[InvalidArgumentError] = InvalidArgumentError
) -> int:
    """An int (not a bool) >= minimum; `error` lets a caller raise its own subclass."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(f"{name} must be an int >= {minimum}, not {value!r}")
    return value


def int_between(
    value: object,
    name: str,
    minimum: int,
    maximum: int,
    error: type[InvalidArgumentError] = InvalidArgumentError,
) -> int:
    """An int (not a bool) in minimum..maximum: a count past `maximum` is refused before any
    work or memory is spent on it."""
    int_at_least(value, name, minimum, error)
    if value > maximum:  # type: ignore[operator]
        raise error(f"{name} must be at most {maximum:,}, not {value!r}")
    return value  # type: ignore[return-value]


def non_negative_int(value: object, name: str) -> int:
    return int_at_least(value, name, 0)


def positive_int(value: object, name: str) -> int:
    return int_at_least(value, name, 1)


def positive_int_or_none(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be None or an int >= 1, not {value!r}")
    return value


def listed(
    values: object, name: str, *, str_is_one: bool = False, may_be_empty: bool = False
) -> list:
    """`values` as a list, by one rule for every list parameter of the lab:

    - a list, tuple, range, array, Series or any other iterable gives its items, in order;
    - a str is one item when `str_is_one` (a name: "v0.7.5" is one version, and "a,b" one
      version made of two bugs -- never six characters), and an error otherwise, as is bytes;
    - None and an empty iterable are an error, or the empty list when `may_be_empty`;
    - anything else (an int, a dict's keys by accident, ...) is an error:
      InvalidArgumentError naming the parameter.
    """
    if values is None:
        if may_be_empty:
            return []
        raise InvalidArgumentError(f"{name} must be a list, not None")
    if isinstance(values, str) and str_is_one:
        return [values]
    if isinstance(values, (str, bytes, dict)):
        raise InvalidArgumentError(f"{name} must be a list, not {values!r}")
    try:
        out = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a list, not {values!r}") from None
    if not out and not may_be_empty:
        raise InvalidArgumentError(f"{name} must not be empty")
    return out
