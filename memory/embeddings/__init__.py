"""States to vectors: the state encoder, per-tier autoencoders and content codecs."""
