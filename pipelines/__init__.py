"""Pipelines join the two stages: prompt -> clock picture, token export, evaluation, CLI."""

__all__ = ["ClockPipeline"]


def __getattr__(name):  # lazy, so that `qvae --help` does not import torch
    if name == "ClockPipeline":
        from pipelines.pipeline import ClockPipeline

        return ClockPipeline
    raise AttributeError(name)
