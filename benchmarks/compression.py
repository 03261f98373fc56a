"""Compression effectiveness: embedding quality, compression ratio, training efficiency (category 2).

Grids: ``compression.dataset_sizes``, ``compression.target_dimensions``,
``compression.training_iterations`` (epochs), and the storage complexities/batch sizes.
Embedding quality trains the per-tier autoencoders on a mixed set of clustered states (navigation,
inventory, social; ``dataset_sizes[0]`` of them, ``training_iterations`` epochs), then measures, on
held-out states of one category, how well each tier's autoencoder reconstructs the full STM vector.
"""

from __future__ import annotations

import numpy as np

from .conventions import metrics
from .lifecycle import CachedBenchmark, SystemBenchmark
from .settings import CONFIG, TIERS, roomy, sorted_unique
from .systems import fresh_system
from .workloads import CATEGORIES, category_states, clustered_states, test_states

AGENT = "benchmark_agent"
DATASET_SIZES = sorted_unique(CONFIG.compression.dataset_sizes)
TARGET_DIMS = sorted_unique(CONFIG.compression.target_dimensions)
EPOCHS = int(CONFIG.compression.training_iterations)
#: Epochs of the training-time benchmark: an epoch costs the same at any count, so 10 of them measure
#: samples per second as well as 50 and let asv take several samples of each (TrainingLoss trains for
#: all EPOCHS).
TIMED_EPOCHS = min(EPOCHS, 10)
COMPLEXITIES = sorted_unique(CONFIG.storage.data_complexity_levels)
ENCODE_BATCHES = sorted_unique([b for b in CONFIG.storage.batch_sizes if b <= 1000] or [10])
EVAL_N = 200
RATIO_N = max(100, min(10 * int(CONFIG.storage.num_samples), 2000))
STM_DIM = 384
PAIRS = ["im_to_stm", "ltm_to_im", "ltm_to_stm"]


def _dims_for(target: int):
    """Autoencoder dims with LTM at `target` (IM between it and STM); None when impossible."""
    im = max(128, 2 * target)
    if not STM_DIM > im > target:
        return None
    return (STM_DIM, im, target)


def no_room(target_dim: int):
    """Why a combination with LTM at `target_dim` is skipped (None: the dims fit)."""
    if _dims_for(target_dim) is None:
        return f"target_dim {target_dim} does not fit below stm_dim {STM_DIM}"
    return None


class EmbeddingQuality(CachedBenchmark):
    """Reconstruction of STM vectors by each tier's trained autoencoder, per data category."""

    params = [TIERS, CATEGORIES]
    param_names = ["tier", "category"]
    items_per_call = EVAL_N

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        with fresh_system("memory", ltm="memory") as system:
            train, _ = clustered_states(DATASET_SIZES[0], seed=0)
            system.train_compression(states=list(train), epochs=EPOCHS)
            stm = system.get_encoder("stm")
            for category in CATEGORIES:
                held_out = list(category_states(category, EVAL_N, seed=1))
                x = np.asarray(stm.encode_states(held_out), dtype=np.float64)
                for tier in TIERS:
                    enc = system.get_encoder(tier)
                    recon = np.asarray(enc.decode_vectors(enc.encode_vectors(x.astype(np.float32))),
                                       dtype=np.float64)
                    num = np.sum(x * recon, axis=1)
                    den = np.linalg.norm(x, axis=1) * np.linalg.norm(recon, axis=1)
                    cosine = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
                    out[(tier, category)] = {"mse": float(np.mean((x - recon) ** 2)),
                                             "cosine": float(np.mean(cosine))}
        return out

    @metrics("reconstruction_error_mse")
    def track_reconstruction_mse(self, cache, tier, category):
        """Mean squared error between STM vectors and their tier reconstruction (STM: identity)."""
        return self.value(cache, (tier, category), "mse")

    track_reconstruction_mse.unit = "mse"

    @metrics("cosine_similarity")
    def track_cosine_similarity(self, cache, tier, category):
        """Mean cosine similarity between STM vectors and their tier reconstruction."""
        return self.value(cache, (tier, category), "cosine")

    track_cosine_similarity.unit = "cosine"


def _bytes_per_memory(complexity):
    """{tier: (stored+embedding bytes per memory, raw bytes per memory, compression_ratio)} for the
    same RATIO_N states written directly into each tier (one agent per tier)."""
    out = {}
    with fresh_system("memory", **roomy(RATIO_N)) as system:
        states = test_states(RATIO_N, complexity)
        for tier in TIERS:
            agent = f"{AGENT}_{tier}"
            system.store_agent_states(agent, states, list(range(RATIO_N)), tier=tier)
            stats = system.get_memory_statistics(agent)["tiers"][tier]
            count = max(1, int(stats["count"]))
            out[tier] = ((stats["stored_bytes"] + stats["embedding_bytes"]) / count,
                         stats["raw_bytes"] / count, float(stats["compression_ratio"]))
    return out


class CompressionRatio(CachedBenchmark):
    """Raw-to-stored bytes per tier (the tier's own ``compression_ratio`` statistic)."""

    params = [TIERS, COMPLEXITIES]
    param_names = ["tier", "complexity"]
    items_per_call = RATIO_N

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        for complexity in COMPLEXITIES:
            per = _bytes_per_memory(complexity)
            for tier in TIERS:
                out[(tier, complexity)] = {"ratio": per[tier][2], "raw": per[tier][1]}
        return out

    @metrics("compression_ratio")
    def track_compression_ratio(self, cache, tier, complexity):
        """raw_bytes / stored_bytes of the tier (higher is smaller storage)."""
        return self.value(cache, (tier, complexity), "ratio")

    track_compression_ratio.unit = "ratio"

    @metrics("raw_bytes_per_state")
    def track_raw_bytes_per_memory(self, cache, tier, complexity):
        """Uncompressed content bytes per memory (the baseline of the ratio)."""
        return self.value(cache, (tier, complexity), "raw")

    track_raw_bytes_per_memory.unit = "bytes"


class TierToTierRatio(CachedBenchmark):
    """Bytes per memory of one tier relative to another, for the same states (seed: im_to_stm_ratio…)."""

    params = [PAIRS, COMPLEXITIES]
    param_names = ["pair", "complexity"]
    items_per_call = RATIO_N

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        for complexity in COMPLEXITIES:
            per = _bytes_per_memory(complexity)
            for pair in PAIRS:
                dst, src = pair.split("_to_")
                out[(pair, complexity)] = {"ratio": per[dst][0] / per[src][0] if per[src][0] else float("nan")}
        return out

    @metrics("im_to_stm_ratio", "ltm_to_im_ratio", "ltm_to_stm_ratio")
    def track_size_ratio(self, cache, pair, complexity):
        """(content + embedding bytes per memory in the first tier) / (same in the second); < 1 shrinks."""
        return self.value(cache, (pair, complexity), "ratio")

    track_size_ratio.unit = "ratio"
    track_size_ratio.higher_is_better = False  # a smaller tier-to-tier size ratio is better compression


class TrainingEfficiency(SystemBenchmark):
    """Autoencoder training (train_compression) per dataset size and LTM embedding size."""

    params = [DATASET_SIZES, TARGET_DIMS]
    param_names = ["dataset_size", "target_dim"]
    items_per_call = ("dataset_size", TIMED_EPOCHS)
    ops_per_call = 1

    def skip(self, benchmark, dataset_size, target_dim):
        return no_room(target_dim)

    def prepare(self, dataset_size, target_dim):
        self.system = self.new_system("memory", ltm="memory", dims=_dims_for(target_dim))
        self.states = list(clustered_states(dataset_size, seed=0)[0])

    @metrics("training_time_seconds", "samples_per_second")
    def time_train_compression(self, dataset_size, target_dim):
        """train_compression(states, epochs=TIMED_EPOCHS) from an untrained system."""
        self.system.train_compression(states=self.states, epochs=TIMED_EPOCHS)


class TrainingLoss(CachedBenchmark):
    """The autoencoders' loss after training_iterations epochs, per dataset size and LTM size."""

    params = [DATASET_SIZES, TARGET_DIMS]
    param_names = ["dataset_size", "target_dim"]
    items_per_call = ("dataset_size", EPOCHS)

    def setup_cache(self):
        return self.compute_cache()

    def skip(self, benchmark, dataset_size, target_dim):
        return no_room(target_dim)

    def measure(self, dataset_size, target_dim):
        with fresh_system("memory", ltm="memory", dims=_dims_for(target_dim)) as system:
            report = system.train_compression(states=list(clustered_states(dataset_size, seed=0)[0]),
                                              epochs=EPOCHS)
        return {"im": float(report["tiers"]["im"]["final_loss"]),
                "ltm": float(report["tiers"]["ltm"]["final_loss"])}

    @metrics("final_loss")
    def track_im_final_loss(self, cache, dataset_size, target_dim):
        """IM autoencoder's reconstruction loss after the last epoch."""
        return self.value(cache, (dataset_size, target_dim), "im")

    track_im_final_loss.unit = "mse"

    @metrics("final_loss")
    def track_ltm_final_loss(self, cache, dataset_size, target_dim):
        """LTM autoencoder's reconstruction loss after the last epoch."""
        return self.value(cache, (dataset_size, target_dim), "ltm")

    track_ltm_final_loss.unit = "mse"


class EncodeTime(SystemBenchmark):
    """Encoding a batch of states into one tier's embedding space (encoder.encode_states)."""

    params = [ENCODE_BATCHES, TIERS]
    param_names = ["batch_size", "tier"]
    items_per_call = "batch_size"

    def prepare(self, batch_size, tier):
        system = self.new_system("memory", ltm="memory")
        self.encoder = system.get_encoder(tier)
        self.states = list(test_states(batch_size, COMPLEXITIES[0]))

    @metrics("encode_time_seconds", "throughput_ops_per_second")
    def time_encode_states(self, batch_size, tier):
        """encoder.encode_states(batch) for the tier's encoder."""
        self.encoder.encode_states(self.states)
