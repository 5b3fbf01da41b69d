"""The one training loop's own decisions: precision by hardware, argument checks, the estimate."""

import pytest
import torch
from transformers import PretrainedConfig, PreTrainedModel

import shared.training as training
from shared.training import TrainingArguments, choose_attention, choose_compile, choose_optimizer, choose_precision, fit


class Linear(PreTrainedModel):
    config_class = PretrainedConfig

    def __init__(self, config=None):
        super().__init__(config or PretrainedConfig())
        self.linear = torch.nn.Linear(4, 1)
        self.post_init()

    def _init_weights(self, module):  # keep torch's init
        pass

    def forward(self, x):
        return self.linear(x).squeeze(-1)


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "no")])
def test_auto_precision_follows_the_cpu_probe(monkeypatch, native, expected):
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: native)
    precision, why = choose_precision("auto", "cpu")
    assert precision == expected
    assert ("native bf16" in why) and (("no native" in why) != native)


def test_auto_precision_on_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_precision("auto", "cuda")[0] == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_precision("auto", "cuda")[0] == "fp16"


def test_asked_precision_wins(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert choose_precision("bf16", "cpu") == ("bf16", "asked for with --mixed-precision")


def test_onednn_isa_limit_means_no_native_bf16(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not training.cpu_has_native_bf16()
    assert choose_precision("auto", "cpu")[0] == "no"


@pytest.mark.parametrize(
    ("precision", "device", "expected"),
    [("bf16", "cpu", "eager"), ("no", "cpu", "sdpa"), ("bf16", "cuda", "sdpa"), ("fp16", "cuda", "sdpa")],
)
def test_attention_kernel_follows_precision_and_device(precision, device, expected):
    """Eager attention for bf16 on the CPU only; the same logits either way."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    lm = LlamaForCausalLM(
        LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    )
    ids = torch.randint(0, 32, (2, 10))
    before = lm(input_ids=ids).logits
    assert lm.config._attn_implementation == "sdpa"
    assert choose_attention(lm, precision, device) == expected == lm.config._attn_implementation
    torch.testing.assert_close(lm(input_ids=ids).logits, before, rtol=1e-4, atol=1e-5)
    assert choose_attention(Linear(), "bf16", "cpu") is None  # no attention kernel to choose: left alone


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": 0},
        {"batch_size": -1},
        {"lr": 0.0},
        {"mixed_precision": "fp8"},
        {"out": ""},
        {"decay_fraction": 0.0},
        {"compile": "yes"},
        {"optimizer": "sgd"},
    ],
)
def test_bad_arguments_are_refused(bad):
    with pytest.raises(ValueError):
        TrainingArguments(**{"out": "x", **bad})


def learning_rates(**kw) -> list[float]:
    optimizer, schedule = training.make_optimizer(Linear(), TrainingArguments(out="x", lr=1.0, **kw))
    rates = []
    for _ in range(kw["steps"]):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_schedule_holds_the_peak_before_its_decay():
    cosine = learning_rates(steps=100, warmup_steps=10)
    wsd = learning_rates(steps=100, warmup_steps=10, decay_fraction=0.2)
    assert cosine[:11] == pytest.approx(wsd[:11])  # the same warmup
    assert max(cosine) == pytest.approx(1.0) and cosine[50] < 0.6  # cosine decays from the peak at once
    assert wsd[10:82] == pytest.approx([1.0] * 72)  # the peak held until the last 20% of the 90 steps after warmup
    assert 0.5 < wsd[90] < 0.9 and wsd[-1] < 0.01


def test_fit_trains_logs_and_estimates(tmp_path, capsys):
    """A linear regression through the loop: the loss falls, the estimate and the summary print."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    data = torch.utils.data.TensorDataset(x, y)

    def loss(model, batch, _):
        xb, yb = batch
        return torch.nn.functional.mse_loss(model(xb), yb)

    def evaluate(model, step):
        return {"mse": torch.nn.functional.mse_loss(model(x), y).item()}

    args = TrainingArguments(
        out=str(tmp_path),
        steps=100,
        batch_size=32,
        lr=0.3,
        warmup_steps=2,
        eval_every=50,
        mixed_precision="no",
        progress=False,
    )
    _, metrics = fit(args, Linear, data, loss, evaluate, name="linear")
    assert metrics["mse"] < 0.01 * y.var().item() and metrics["precision"] == "no"
    out = capsys.readouterr().out
    assert "estimate:" in out and "summary:" in out and "precision no (asked for" in out
    assert (tmp_path / "model" / "model.safetensors").is_file() and (tmp_path / "metrics.json").is_file()


def test_compiled_training_matches_plain_and_resumes_without_compile(tmp_path):
    """--compile trains the same model as the plain loop; evaluation sees the plain module, and a
    checkpoint written by a compiled run resumes in a plain one."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    data = torch.utils.data.TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0]))
    seen, trained = [], set()

    def loss(model, batch, _):
        trained.add(type(model).__name__)
        return torch.nn.functional.mse_loss(model(batch[0]), batch[1])

    def evaluate(model, step):
        seen.append(type(model).__name__)
        return {"w0": model.linear.weight[0, 0].item()}

    def run(out, **kw):
        args = TrainingArguments(
            out=str(tmp_path / out), steps=20, batch_size=16, lr=0.1, warmup_steps=2, eval_every=10,
            save_every=10, mixed_precision="no", progress=False, **kw,
        )  # fmt: skip
        return fit(args, Linear, data, loss, evaluate, name="linear")[0].linear.weight.detach()

    plain = run("plain")
    assert trained == {"Linear"}
    compiled = run("compiled", compile="true")
    assert trained == {"Linear", "OptimizedModule"} and seen == ["Linear"] * 4
    torch.testing.assert_close(compiled, plain, rtol=1e-4, atol=1e-5)
    (tmp_path / "compiled" / "model").rename(tmp_path / "compiled_model")  # resume from step 10's checkpoint
    resumed = run("compiled", resume=True)
    torch.testing.assert_close(resumed, plain, rtol=1e-4, atol=1e-5)


def test_a_resumed_run_decides_compile_by_the_steps_left(tmp_path, monkeypatch):
    """--compile auto weighs the compilation against the steps still to run, not the run's total."""
    asked = []

    def record(requested, steps, device_type=None):
        asked.append(steps)
        return False, "recorded"

    monkeypatch.setattr(training, "choose_compile", record)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64))

    def run(**kw):
        args = TrainingArguments(
            out=str(tmp_path / "run"), steps=20, batch_size=16, save_every=15, eval_every=100,
            mixed_precision="no", compile="auto", progress=False, **kw,
        )  # fmt: skip
        fit(args, Linear, data, lambda m, b, _: torch.nn.functional.mse_loss(m(b[0]), b[1]), name="linear")

    run()
    (tmp_path / "run" / "model").rename(tmp_path / "model")  # resume from step 15's checkpoint
    run(resume=True)
    assert asked == [20, 5]


def test_compile_without_a_compiler_is_refused_before_training(tmp_path, monkeypatch):
    import torch._inductor.cpp_builder as cpp_builder

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    args = TrainingArguments(out=str(tmp_path / "run"), steps=2, batch_size=4, compile="true", progress=False)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8))
    with pytest.raises(ValueError, match="--compile true: torch.compile found no C\\+\\+ compiler.*--compile false"):
        fit(args, Linear, data, lambda m, b, g: m(b[0]).sum())
    assert not (tmp_path / "run" / "model").exists()
    # auto does without it, and says why
    assert choose_compile("auto", 5000, "cpu") == (
        False,
        "auto: torch.compile found no C++ compiler on this CPU (no working C++ compiler found)",
    )


def test_auto_compiles_runs_long_enough_to_pay_it_back(monkeypatch):
    import torch._inductor.cpp_builder as cpp_builder

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", lambda: "g++")
    few, why = choose_compile("auto", training.COMPILE_MIN_STEPS - 1, "cpu")
    assert not few and "too few" in why
    assert choose_compile("auto", training.COMPILE_MIN_STEPS, "cpu")[0]
    assert choose_compile("false", 10**6, "cpu") == (False, "--compile false")
    assert choose_compile("true", 1, "cpu") == (True, "--compile true")


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    model = tiny_llama()
    optimizer, _ = training.make_optimizer(model, TrainingArguments(out="x", optimizer="muon", weight_decay=0.1))
    muon = {id(p) for g in optimizer.muon.param_groups for p in g["params"]}
    adamw = {id(p) for g in optimizer.adamw.param_groups for p in g["params"]}
    hidden = {id(m.weight) for n, m in model.named_modules() if n.endswith("_proj")}
    assert muon == hidden and len(muon) == 7  # q k v o, gate up down
    assert id(model.model.embed_tokens.weight) in adamw  # the tied embedding / output head
    assert not muon & adamw and muon | adamw == {id(p) for p in model.parameters()}
    # the schedule's learning rate reaches both
    assert {id(g) for g in optimizer.param_groups} == {
        id(g) for g in optimizer.muon.param_groups + optimizer.adamw.param_groups
    }
    # after a step, every parameter's state is found through the one optimizer, also once reloaded
    model(input_ids=torch.arange(8)[None]).logits.sum().backward()
    optimizer.step()
    assert {id(p) for p in optimizer.state} == muon | adamw
    assert "momentum_buffer" in optimizer.state[model.model.layers[0].mlp.up_proj.weight]
    assert "exp_avg" in optimizer.state[model.model.embed_tokens.weight]
    assert len(optimizer.muon.state) == 7 and len(optimizer.state) == len(muon | adamw)  # reads add nothing
    optimizer.load_state_dict(optimizer.state_dict())
    assert {id(p) for p in optimizer.state} == muon | adamw


@pytest.mark.parametrize(("native", "dtype", "word"), [(True, torch.bfloat16, "bf16"), (False, torch.float32, "fp32")])
def test_muon_orthogonalises_in_bf16_only_where_it_is_native(monkeypatch, native, dtype, word):
    """torch's Muon orthogonalises in bf16: without native bf16 that costs seconds a step, so there
    the Newton-Schulz steps run in fp32 (Muon kept: AdamW draws the time a third as often)."""
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    optimizer, why = choose_optimizer("muon", "cpu")
    assert optimizer == "muon" and f"Newton-Schulz steps in {word}" in why
    assert choose_optimizer("adamw", "cpu")[0] == "adamw"
    built, _ = training.make_optimizer(tiny_llama(), TrainingArguments(out="x", optimizer="muon"))
    assert built.muon.ns_dtype == dtype


def test_muon_needs_a_torch_that_has_it(monkeypatch):
    """pyproject allows a torch older than torch.optim.Muon: there --optimizer muon trains with AdamW."""
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    monkeypatch.delattr(torch.optim, "Muon")
    optimizer, why = choose_optimizer("muon", "cpu")
    assert optimizer == "adamw" and "torch.optim.Muon" in why


def test_muon_trains_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    """--optimizer muon through fit: the loss falls, and a run resumed from its checkpoint ends with
    the uninterrupted run's weights (both optimizers' states are saved and restored)."""
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)  # Muon on any CPU (tiny matrices)
    g = torch.Generator().manual_seed(0)
    ids = torch.arange(8).repeat(64, 2) + torch.randint(0, 2, (64, 1), generator=g) * 8  # two counting patterns
    data = torch.utils.data.TensorDataset(ids)
    losses = []

    def loss(model, batch, _):
        out = model(input_ids=batch[0], labels=batch[0]).loss
        losses.append(out.item())
        return out

    def run(out, **kw):
        args = TrainingArguments(
            out=str(tmp_path / out), steps=20, batch_size=16, lr=3e-2, warmup_steps=2, save_every=10,
            eval_every=100, mixed_precision="no", optimizer="muon", progress=False, **kw,
        )  # fmt: skip
        return fit(args, tiny_llama, data, loss, name="lm")[0].state_dict()

    whole = run("whole")
    assert sum(losses[-3:]) < 0.5 * sum(losses[:3]) and "optimizer muon" in capsys.readouterr().out
    run("half")
    (tmp_path / "half" / "model").rename(tmp_path / "half_model")  # resume from step 10's checkpoint
    resumed = run("half", resume=True)
    for name, tensor in whole.items():
        torch.testing.assert_close(resumed[name], tensor, msg=name)
