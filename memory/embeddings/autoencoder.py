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

    def load_bytes(self, blob: bytes) -> bool:
        """Load weights saved by `to_bytes`; False (and unchanged) when the shapes do not fit."""
        with np.load(io.BytesIO(blob)) as data:
            if data["w_enc"].shape != self.w_enc.shape:
                return False
            self.w_enc = data["w_enc"].astype(np.float32)
            self.w_dec = data["w_dec"].astype(np.float32)
            self.b_dec = data["b_dec"].astype(np.float32)
        self.trained = True
        return True
