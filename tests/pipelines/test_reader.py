"""The clock reader: training through the one loop, the style-field heads, field_accuracy, saving."""

import json

import pytest
import torch

from pipelines.reader import (
    ClockReader,
    ClockReaderConfig,
    ReaderTrainingArguments,
    RenderedClocks,
    augment,
    circular_error,
    clock_sample,
    field_accuracy,
    fields_as_asked,
    load_reader,
    train_reader,
)
from shared.clocks import HELD_OUT_STYLE, STYLE_FIELDS, is_held_out, random_style, render_clock
from shared.images import to_tensor


def tiny_reader(fields=STYLE_FIELDS, seed=0):
    torch.manual_seed(seed)
    return ClockReader(ClockReaderConfig(image_size=32, width=4, fields=fields)).eval()


def reader_args(out, **fields) -> ReaderTrainingArguments:
    """A short run on 32 px clocks (seed 0 unless given), without a progress bar."""
    return ReaderTrainingArguments(out=str(out), image_size=32, progress=False, **fields)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("reader")
    args = reader_args(out, steps=200, batch_size=32, lr=3e-3, warmup_steps=10, width=8, val_size=160, eval_every=100)
    model, metrics = train_reader(args)  # ~6 s
    return out, model, metrics


def test_rendered_clocks_are_a_function_of_stream_and_index():
    a, b = RenderedClocks(50, "s"), RenderedClocks(50, "s")
    assert torch.equal(a[7]["images"], b[7]["images"]) and a[7]["hour"] == b[7]["hour"]
    assert not torch.equal(a[7]["images"], RenderedClocks(50, "t")[7]["images"])
    row = a[3]
    assert row["images"].dtype == torch.uint8 and row["images"].shape == (3, 64, 64)
    assert row["fields"].shape == (len(STYLE_FIELDS),)
    with pytest.raises(IndexError):
        a[50]


def test_training_clocks_avoid_the_held_out_region_and_the_held_out_stream_is_in_it():
    labels = [clock_sample("s", i, 16)[3] for i in range(400)]
    assert not any(is_held_out(lab) for lab in labels)
    # the region is ~1% of random styles: 400 draws without any is what the redraw buys
    assert sum(is_held_out(random_style(i)) for i in range(400)) >= 1
    held = [clock_sample("h", i, 16, **HELD_OUT_STYLE)[3] for i in range(5)]
    assert all(is_held_out(lab) for lab in held)


def test_augment_is_seeded_by_the_generator():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    a = augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, augment(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(2)))
    assert a.min() >= -1 and a.max() <= 1 and not torch.equal(a, x)


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="multiple of 16"):
        ReaderTrainingArguments(out=str(tmp_path), image_size=40)
    with pytest.raises(ValueError, match="val-size"):
        ReaderTrainingArguments(out=str(tmp_path), val_size=0)
    with pytest.raises(ValueError, match="members"):
        ReaderTrainingArguments(out=str(tmp_path), members=0)


@pytest.mark.slow
def test_reader_trains_through_fit_and_learns(trained):
    out, model, metrics = trained
    assert (out / "model" / "model.safetensors").exists()
    assert json.loads((out / "metrics.json").read_text())["steps"] == 200
    val = RenderedClocks(160, "qvae-reader-validation", 32).batch()
    torch.manual_seed(0)
    untrained = ClockReader(ClockReaderConfig(image_size=32, width=8, fields=STYLE_FIELDS)).eval()
    order = list(STYLE_FIELDS)

    def losses(reader):
        with torch.no_grad():
            hl, ml, fl = reader(val["images"], fields=True)
        fields = torch.stack(
            [torch.nn.functional.cross_entropy(v, val["fields"][:, order.index(k)]) for k, v in fl.items()]
        ).mean()
        time = torch.nn.functional.cross_entropy(hl, val["hour"]) + torch.nn.functional.cross_entropy(ml, val["minute"])
        return time.item(), fields.item()

    time_before, fields_before = losses(untrained)
    time_after, fields_after = losses(model)
    assert time_after < 0.8 * time_before and fields_after < fields_before
    # chance is 7 readings of 720 within 3 minutes (~1%); 200 tiny steps read several times that
    assert metrics["time_accuracy"] > 0.05, metrics
    assert set(metrics) >= {f"field/{name}" for name in STYLE_FIELDS} | {"time_accuracy_held_out_style"}


@pytest.mark.slow
def test_training_is_reproducible_from_the_seed(tmp_path):
    def run(name, seed):
        return train_reader(reader_args(tmp_path / name, steps=8, batch_size=16, width=4, val_size=16, seed=seed))[0]

    model, again, other = run("a", 0), run("b", 0), run("c", 1)
    assert not torch.equal(model.hour_head.weight, other.hour_head.weight)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_a_reader_fine_tunes_from_a_saved_one_of_the_same_fields(trained, tmp_path, capsys):
    out, model, _ = trained
    args = reader_args(tmp_path / "tuned", steps=1, lr=1e-12, width=4, val_size=16, init_from=str(out / "model"))
    tuned, _ = train_reader(args)  # one step of next to no learning: the saved reader, its width kept
    assert f"clock_reader (fine-tuned from {out / 'model'})" in capsys.readouterr().out
    assert tuned.config.width == 8
    for (name, a), b in zip(model.named_parameters(), tuned.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    with pytest.raises(ValueError, match="reads face_color, .* at 32 px .* asks for the time only at 32 px"):
        train_reader(reader_args(tmp_path / "other", steps=1, val_size=16, fields=False, init_from=str(out / "model")))
    assert not (tmp_path / "other").exists()


def test_feature_maps_are_what_each_member_sees():
    torch.manual_seed(0)
    reader = ClockReader(ClockReaderConfig(image_size=32, width=4, fields=STYLE_FIELDS, members=2)).eval()
    x = (torch.rand(3, 3, 48, 48) * 2 - 1).requires_grad_()  # resized to the reader's 32 px, as it reads
    maps = reader.feature_maps(x)
    assert [tuple(m.shape) for m in maps] == 2 * [(3, 4, 16, 16), (3, 8, 8, 8), (3, 16, 4, 4), (3, 16, 2, 2)]
    assert not torch.equal(maps[3], maps[7])  # each member its own
    assert torch.equal(maps[3], reader.features(reader._sized(x)))  # the first member's last map is what it reads
    sum(m.sum() for m in maps).backward()
    assert x.grad.abs().sum() > 0


def test_read_fields_returns_only_declared_words():
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    reader = tiny_reader()
    read = reader.read_fields(images)
    assert len(read) == 5
    for row in read:
        assert list(row) == list(STYLE_FIELDS) and all(row[k] in STYLE_FIELDS[k] for k in row)
    few = tiny_reader({"rim": ["none", "thin", "thick"], "shape": ["round", "square"]})
    assert all(set(row) == {"rim", "shape"} and row["shape"] in ("round", "square") for row in few.read_fields(images))
    assert tiny_reader(None).read_fields(images) == [{}] * 5  # a time-only reader reads no field
    hours, minutes = reader.read(images)  # the time is read as before
    assert hours.shape == (5,) and minutes.max() < 60


class FixedReader:
    """A stand-in whose field readings are known: field_accuracy's arithmetic, exactly."""

    def __init__(self):
        self.fields = {"shape": ["round", "square"], "rim": ["none", "thin", "thick"]}

    def read_field_ids(self, images):
        return {"shape": torch.tensor([0, 1, 1, 0]), "rim": torch.tensor([2, 2, 0, 1])}


def test_field_accuracy_counts_only_the_asked_fields():
    conditions = [
        {"shape": "round", "hour": 3, "minute": 15},
        {"shape": "round", "rim": "thick"},
        {"shape": "square"},
        {"rim": None},
    ]
    result = field_accuracy(FixedReader(), torch.zeros(4, 3, 8, 8), conditions)
    assert result == {"shape": pytest.approx(2 / 3), "rim": 1.0}
    # image by image: which images asked each field, and whether it reads there as asked
    per_image = fields_as_asked(FixedReader(), torch.zeros(4, 3, 8, 8), conditions)
    assert list(per_image) == ["shape", "rim"]
    assert per_image["shape"][0].tolist() == [0, 1, 2] and per_image["shape"][1].tolist() == [True, False, True]
    assert per_image["rim"][0].tolist() == [1] and per_image["rim"][1].tolist() == [True]
    assert field_accuracy(FixedReader(), torch.zeros(4, 3, 8, 8), [{"hour": 1}] * 4) == {}
    with pytest.raises(ValueError, match="does not read 'face_color'.*shape, rim"):
        field_accuracy(FixedReader(), torch.zeros(4, 3, 8, 8), [{"face_color": "red"}] * 4)
    with pytest.raises(ValueError, match="unknown rim 'wide'.*none, thin, thick"):
        field_accuracy(FixedReader(), torch.zeros(4, 3, 8, 8), [{"rim": "wide"}] * 4)
    with pytest.raises(ValueError, match="4 images but 3 conditions"):
        field_accuracy(FixedReader(), torch.zeros(4, 3, 8, 8), conditions[:3])


def test_shipped_reader_reads_asked_fields_on_rendered_clocks():
    reader = load_reader()
    assert list(reader.fields) == list(STYLE_FIELDS)
    asked = [
        {"face_color": "red", "shape": "square", "numerals": "roman"},
        {"face_color": "blue", "rim": "thick", "background_style": "stripes"},
        {"hand_color": "white", "ticks": "dots", "second_hand": "yes"},
        {"shape": "hexagon", "background_color": "yellow", "numerals": "none"},
    ]
    conditions, images = [], []
    for i in range(48):
        fixed = asked[i % len(asked)]
        style = random_style(1000 + i, **fixed)
        images.append(render_clock(i % 12, (7 * i) % 60, style=style, seed=i))
        conditions.append({**fixed, "hour": i % 12})
    images = to_tensor(images)
    honoured = field_accuracy(reader, images, conditions)
    assert set(honoured) == {k for c in asked for k in c}
    assert all(v >= 0.9 for v in honoured.values()), honoured
    # the same clocks asked for other values: the reader says they are not honoured
    wrong = [{k: next(v for v in STYLE_FIELDS[k] if v != c[k]) for k in c if k != "hour"} for c in conditions]
    assert all(v <= 0.1 for v in field_accuracy(reader, images, wrong).values())
    # and every field of the drawn style, read back
    labels = [random_style(1000 + i, **asked[i % len(asked)]).labels for i in range(48)]
    every = field_accuracy(reader, images, labels)
    assert set(every) == set(STYLE_FIELDS) and sum(every.values()) / len(every) >= 0.9, every


def test_shipped_reader_reads_the_held_out_style_and_every_hour():
    reader = load_reader()
    times = [(h, (11 * h + 7) % 60) for h in range(12)]
    images = to_tensor([render_clock(h, m, style=random_style(50 + h, **HELD_OUT_STYLE), seed=h) for h, m in times])
    hours, minutes = reader.read(images)
    assert (circular_error(hours, minutes, [h for h, _ in times], [m for _, m in times]) <= 3).sum() >= 11
    assert all(row["shape"] == "octagon" for row in reader.read_fields(images))


def test_saved_reader_round_trips_with_its_fields(tmp_path):
    reader = tiny_reader({"shape": list(STYLE_FIELDS["shape"]), "numerals": list(STYLE_FIELDS["numerals"])})
    reader.save_pretrained(tmp_path / "r")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["fields"] == [["shape", list(STYLE_FIELDS["shape"])], ["numerals", list(STYLE_FIELDS["numerals"])]]
    loaded = load_reader(tmp_path / "r")
    assert list(loaded.fields) == ["shape", "numerals"] and loaded.fields["numerals"] == ["arabic", "roman", "none"]
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        a, b = reader(images, fields=True), loaded(images, fields=True)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2]["shape"], b[2]["shape"])
    reader.to(torch.float16).save_pretrained(tmp_path / "half")
    half = load_reader(tmp_path / "half")
    with torch.no_grad():
        assert half.dtype == torch.float32 and torch.allclose(half(images)[1], b[1], atol=1e-2)
    # a time-only reader folder (no fields in its config) still loads, with no field heads
    tiny_reader(None).save_pretrained(tmp_path / "time_only")
    assert load_reader(tmp_path / "time_only").fields == {}


def test_an_ensemble_reader_is_as_sure_as_its_least_sure_member(tmp_path):
    torch.manual_seed(0)
    fields = {"shape": list(STYLE_FIELDS["shape"])}
    ensemble = ClockReader(ClockReaderConfig(image_size=32, width=4, fields=fields, members=2)).eval()
    # the first member keeps a one-member reader's names: readers saved before ensembles load as they were
    one = tiny_reader(fields)
    assert set(one.state_dict()) < set(ensemble.state_dict())
    assert {k for k in ensemble.state_dict() if k not in one.state_dict()} == {
        f"others.0.{k}" for k in one.state_dict()
    }
    # each member alone, as a one-member reader
    members = []
    for prefix in ("", "others.0."):
        m = tiny_reader(fields)
        m.load_state_dict({k: ensemble.state_dict()[prefix + k] for k in m.state_dict()})
        members.append(m)
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    asked = [{"hour": h, "minute": 7 * h, "shape": "round"} for h in range(6)]
    sure = torch.stack([m.request_confidence(images, asked) for m in members])
    assert not torch.allclose(sure[0], sure[1])  # their own random starts
    assert torch.allclose(ensemble.request_confidence(images, asked), sure.amin(0))
    # its logits are the log of the members' mean probability
    with torch.no_grad():
        hl, ml, fl = ensemble(images, fields=True)
        mean = torch.stack([m(images, fields=True)[2]["shape"].softmax(-1) for m in members]).mean(0)
        stacked = ensemble(images, fields=True, members=True)
    assert torch.allclose(fl["shape"].exp(), mean, atol=1e-6) and torch.allclose(hl.exp().sum(-1), torch.ones(6))
    assert stacked[0].shape == (2, 6, 12) and stacked[2]["shape"].shape == (2, 6, len(fields["shape"]))
    ensemble.save_pretrained(tmp_path / "e")
    loaded = load_reader(tmp_path / "e")
    assert loaded.config.members == 2 and torch.allclose(loaded.request_confidence(images, asked), sure.amin(0))
    with pytest.raises(ValueError, match="at least one member"):
        ClockReader(ClockReaderConfig(members=0))


@pytest.mark.slow
def test_the_members_of_an_ensemble_train_side_by_side(tmp_path):
    args = reader_args(tmp_path, steps=30, batch_size=16, width=4, val_size=32, eval_every=30, members=2, lr=3e-3)
    model, metrics = train_reader(args)
    loaded = load_reader(tmp_path / "model")
    assert loaded.config.members == 2 and "time_accuracy" in metrics
    assert not torch.equal(model.hour_head.weight, model.others[0].hour_head.weight)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
