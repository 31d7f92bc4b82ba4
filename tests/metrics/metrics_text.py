"""Reads Prometheus text exposition, for the metrics tests.

    samples = parse(text)                  # {(name, labels): value}
    value(samples, "grpc_server_started_total", grpc_method="Pool")

`labels` is a frozenset of (key, value) pairs; value() sums every sample of
the name whose labels include the given ones (0 when none matches), and
series() lists them.
"""

import re
import urllib.request

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"not a sample line: {line!r}")
        name, labels, number = m.groups()
        pairs = frozenset(_LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(number)
    return samples


def series(samples, name, **labels):
    want = set(labels.items())
    return {key: v for key, v in samples.items() if key[0] == name and want <= key[1]}


def value(samples, name, **labels):
    return sum(series(samples, name, **labels).values())


def scrape(address, timeout=30):
    """GET http://address/metrics; the body."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as reply:
        return reply.read().decode()
