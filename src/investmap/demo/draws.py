"""Fast scalar random draws, buffered from a numpy Generator(PCG64).

A scalar call on a numpy Generator costs a few microseconds; the generator
makes hundreds of thousands of them (names, dates, attributes). `Stream` draws
uniforms from the Generator in chunks and derives every scalar distribution
from them, so the output still depends only on the seed (same seed → same
chunks → same draws), at a fraction of the cost.
"""

import bisect
import math
from itertools import accumulate

from numpy.random import PCG64, Generator, SeedSequence


def generator(seed: int, step: int) -> Generator:
    """The Generator of one step of the generator, seeded from (seed, step)."""
    return Generator(PCG64(SeedSequence([int(seed), int(step)])))


class Stream:
    def __init__(self, gen: Generator, chunk: int = 1 << 15):
        self.gen = gen
        self.chunk = chunk
        self.buf: list[float] = []
        self.i = 0

    def random(self) -> float:
        if self.i >= len(self.buf):
            self.buf = self.gen.random(self.chunk).tolist()
            self.i = 0
        v = self.buf[self.i]
        self.i += 1
        return v

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def integers(self, lo: int, hi: int | None = None) -> int:
        """An integer in [lo, hi) (or [0, lo) with one argument), like Generator.integers."""
        if hi is None:
            lo, hi = 0, lo
        return lo + min(int(self.random() * (hi - lo)), hi - lo - 1)

    def pick(self, seq):
        return seq[self.integers(len(seq))]

    def chance(self, p: float) -> bool:
        return self.random() < p

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        u1 = max(self.random(), 1e-300)
        u2 = self.random()
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def triangular(self, lo: float, mode: float, hi: float) -> float:
        u = self.random()
        c = (mode - lo) / (hi - lo)
        if u < c:
            return lo + math.sqrt(u * (hi - lo) * (mode - lo))
        return hi - math.sqrt((1 - u) * (hi - lo) * (hi - mode))

    def digits(self, n: int) -> str:
        return "".join(str(self.integers(10)) for _ in range(n))


class Weighted:
    """Draw keys of a {key: weight} mapping (or parallel lists) through a Stream."""

    def __init__(self, keys, weights=None):
        if weights is None:  # a {key: weight} mapping
            weights = list(keys.values())
        self.keys = list(keys)
        self.cum = list(accumulate(float(w) for w in weights))
        self.total = self.cum[-1]

    def draw(self, rs: Stream):
        return self.keys[
            min(bisect.bisect_right(self.cum, rs.random() * self.total), len(self.keys) - 1)
        ]
