"""Builds the optional compiled encoder and codec helpers; everything else is configured in pyproject.toml.

The extension is optional: where no C compiler is available the install still succeeds and the encoder
uses its Python walk (same features, slower). `memory.embeddings.encoder.NATIVE_WALK` says which one runs.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "memory.embeddings._speedups",
            sources=["memory/embeddings/_speedups.c"],
            extra_compile_args=["-O2", "-ffp-contract=off"],  # no FMA: the same sums as the numpy path
            optional=True,
        )
    ]
)
