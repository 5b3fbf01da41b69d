"""The CPU speed benchmark still builds and steps both stages with the training loop's optimizer
(it broke once when ``make_optimizer`` read a setting its hand-made arguments lacked)."""

from pathlib import Path

from scripts import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cpu_speed.py"


def test_each_model_takes_timed_steps():
    bench = load_script(BENCH, "bench_cpu_speed")
    settings = [bench.Setting(model, "fp32", 2) for model in bench.MODELS]
    settings += [
        bench.Setting("prior", "fp32, Muon", 2, optimizer="muon"),
        bench.Setting("prior", "AdamW", 2, fused_adamw=True),
    ]
    bench.time_settings(settings, steps=2)
    for s in settings:
        assert s.error == "" and len(s.times) == 2 and all(t > 0 for t in s.times), (s.model, s.error)
