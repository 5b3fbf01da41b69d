"""The CPU speed benchmark still builds and steps both stages with the training loop's optimizer
(it broke once when ``make_optimizer`` read a setting its hand-made arguments lacked)."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cpu_speed.py"


def test_each_model_takes_timed_steps():
    spec = importlib.util.spec_from_file_location("bench_cpu_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up while it loads
    spec.loader.exec_module(bench)
    settings = [bench.Setting(model, "fp32", 2) for model in bench.MODELS]
    bench.time_settings(settings, steps=2)
    for s in settings:
        assert s.error == "" and len(s.times) == 2 and all(t > 0 for t in s.times), (s.model, s.error)
