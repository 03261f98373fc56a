"""Per-tier neural compression: a small numpy autoencoder from the state vector to a tier's code.

Linear encoder and decoder (one code layer, no activation), trained on reconstruction MSE with
Adam. Linear keeps cosine geometry, so a tier's search stays one matrix product; trained, it finds
the principal subspace of the agent's states. Untrained it is a seeded orthonormal projection, so
search works from the first insert.
"""

from __future__ import annotations

import functools
import io
from typing import Optional

import numpy as np

from ..errors import CorruptDataError


@functools.lru_cache(maxsize=16)
def _orthonormal_cached(in_dim: int, code_dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((in_dim, code_dim)))
    q = np.ascontiguousarray(q, dtype=np.float32)
    q.flags.writeable = False
    return q


def _orthonormal(in_dim: int, code_dim: int, seed: int) -> np.ndarray:
    """A seeded (in_dim, code_dim) matrix with orthonormal columns; computed once per process and shape."""
    return _orthonormal_cached(in_dim, code_dim, seed)


class Autoencoder:
    """in_dim → code_dim → in_dim; `encode`/`decode` work on (n, dim) float32 arrays."""

    def __init__(self, in_dim: int, code_dim: int, seed: int = 0) -> None:
        self.in_dim, self.code_dim, self.seed = in_dim, code_dim, seed
        q = _orthonormal(in_dim, code_dim, seed)
        self.w_enc = q.copy()
        self.w_dec = np.ascontiguousarray(q.T)
        self.b_dec = np.zeros(in_dim, dtype=np.float32)
        self.trained = False

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(n, in_dim) → (n, code_dim) codes."""
        return x @ self.w_enc

    def decode(self, z: np.ndarray) -> np.ndarray:
        """(n, code_dim) → (n, in_dim) reconstructions."""
        return z @ self.w_dec + self.b_dec

    def reconstruction_mse(self, x: np.ndarray) -> float:
        """Mean squared reconstruction error over all entries of `x`."""
        return float(np.mean((self.decode(self.encode(x)) - x) ** 2))

    def fit(self, x: np.ndarray, epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
            seed: Optional[int] = None) -> list[float]:
        """Train with minibatch Adam on MSE; deterministic for a given seed. Returns loss per epoch."""
        x = np.asarray(x, dtype=np.float32)
        n = len(x)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        params = [self.w_enc, self.w_dec, self.b_dec]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        beta1, beta2, eps, t = 0.9, 0.999, 1e-8, 0
        losses: list[float] = []
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for lo in range(0, n, batch_size):
                xb = x[order[lo:lo + batch_size]]
                z = xb @ self.w_enc
                err = z @ self.w_dec + self.b_dec - xb
                total += float(np.sum(err * err))
                g_out = err * (2.0 / err.size)
                grads = [xb.T @ (g_out @ self.w_dec.T), z.T @ g_out, g_out.sum(axis=0)]
                t += 1
                for p, g, mi, vi in zip(params, grads, m, v):
                    mi *= beta1
                    mi += (1 - beta1) * g
                    vi *= beta2
                    vi += (1 - beta2) * g * g
                    p -= (learning_rate * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)) * mi / (np.sqrt(vi) + eps)
            losses.append(total / (n * self.in_dim))
        self.trained = True
        return losses

    def to_bytes(self) -> bytes:
        """Weights as an .npz blob, for persisting next to the LTM."""
        buf = io.BytesIO()
        np.savez(buf, w_enc=self.w_enc, w_dec=self.w_dec, b_dec=self.b_dec)
        return buf.getvalue()

    def load_bytes(self, blob: bytes, source: str = "autoencoder weights") -> bool:
        """Load weights saved by `to_bytes`; False (and unchanged) when the shapes are another config's.

        A blob that is not such weights (not an .npz, arrays missing or of the wrong shape, NaN or
        infinite values) raises CorruptDataError naming `source`: using it would poison every embedding."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                w_enc, w_dec, b_dec = (np.asarray(data[k]) for k in ("w_enc", "w_dec", "b_dec"))
        except Exception as exc:  # np.load raises BadZipFile, ValueError, OSError, EOFError, KeyError, ...
            reason = " ".join(str(exc).split())  # one line
            raise CorruptDataError(f"{source} is not a valid weights archive ({type(exc).__name__}: {reason})") from exc
        if w_enc.shape != self.w_enc.shape:
            if w_enc.ndim == 2:  # another config's dims: kept, unused (as before)
                return False
            raise CorruptDataError(f"{source}: w_enc has shape {w_enc.shape}, not a matrix")
        problem = self._weights_problem(w_enc, w_dec, b_dec)
        if problem:
            raise CorruptDataError(f"{source}: {problem}")
        self.w_enc = w_enc.astype(np.float32)
        self.w_dec = w_dec.astype(np.float32)
        self.b_dec = b_dec.astype(np.float32)
        self.trained = True
        return True

    def _weights_problem(self, w_enc: np.ndarray, w_dec: np.ndarray, b_dec: np.ndarray) -> str:
        """What is wrong with loaded weights of the right encoder shape ('' when nothing)."""
        for name, arr, shape in (("w_dec", w_dec, (self.code_dim, self.in_dim)), ("b_dec", b_dec, (self.in_dim,))):
            if arr.shape != shape:
                return f"{name} has shape {arr.shape}, expected {shape}"
        for name, arr in (("w_enc", w_enc), ("w_dec", w_dec), ("b_dec", b_dec)):
            if arr.dtype.kind not in "fiu":
                return f"{name} holds {arr.dtype}, not numbers"
            if not np.isfinite(arr).all():
                return f"{name} holds NaN or infinite values"
        return ""
