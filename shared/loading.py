"""One strict loader for every model folder (tokenizer, prior, clock reader, baselines).

``load_pretrained(model_cls, path)`` opens a ``save_pretrained`` folder and either returns
the model exactly as it was saved, or raises a one-line error that names the folder (and the
file or the tensors) -- never a silent random initialisation:

- weights are safetensors only (``model.safetensors`` or a sharded
  ``model.safetensors.index.json``); a folder that offers only a pickle
  (``pytorch_model.bin``) is refused and nothing is ever unpickled;
- a truncated or corrupt safetensors file is an error naming the file;
- the tensors in the files (names and shapes; persistent buffers count) must be exactly
  those of the model that ``config.json`` builds: missing, unexpected and wrongly shaped
  tensors are named, with both shapes;
- the weights are cast to ``dtype`` (float32 unless asked otherwise, whatever dtype they
  are stored in: the shipped folders store float16 to be small, but float16 on the CPU is
  slow and gives other ids) and moved to ``device``; the model comes back in eval mode.

Errors are ``FileNotFoundError`` (no folder, no config, no safetensors) or ``ValueError``
(corrupt, mismatched): the CLI prints either as one line and exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, PreTrainedModel
from transformers.utils import logging as hf_logging

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"
PICKLE_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt", "model.pt", "model.pth")
MAX_NAMES = 5  # tensors named per kind of problem in an error message


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_NAMES])
    return shown + (f" and {len(items) - MAX_NAMES} more" if len(items) > MAX_NAMES else "")


def weight_files(path: Path, what: str = "model") -> list[Path]:
    """The safetensors files of a folder; refuses a folder that has none (a pickle is never read)."""
    index = path / WEIGHTS_INDEX_NAME
    if (path / WEIGHTS_NAME).is_file():
        return [path / WEIGHTS_NAME]
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted(set(weight_map.values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(
                f"cannot load the {what} from {str(path)!r}: {WEIGHTS_INDEX_NAME} is corrupt ({type(e).__name__}: {e})"
            ) from e
        missing = [f for f in files if not (path / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"cannot load the {what} from {str(path)!r}: {WEIGHTS_INDEX_NAME} names "
                f"shard(s) that are not there: {_names(missing)}"
            )
        return [path / f for f in files]
    pickles = [name for name in PICKLE_NAMES if (path / name).exists()]
    found = (
        f"it has only {', '.join(pickles)}, a pickle, which is never loaded (it could run code); " if pickles else ""
    )
    raise FileNotFoundError(
        f"no {what} weights in {str(path)!r}: expected {WEIGHTS_NAME} (or {WEIGHTS_INDEX_NAME}); "
        f"{found}save the model with save_pretrained() to write safetensors"
    )


def read_header(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the safetensors headers (the file's bounds are checked too)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as f:
                for key in f.keys():
                    shapes[key] = tuple(f.get_slice(key).get_shape())
        except (SafetensorError, OSError, ValueError) as e:
            detail = str(e).replace("\n", " ")
            raise ValueError(f"{str(file)!r} is not a valid safetensors file: truncated or corrupt ({detail})") from e
    return shapes


def load_config(model_cls, path: str | Path, what: str = "model"):
    """The config of a ``save_pretrained`` folder, checked to be ``model_cls``'s (no weights read)."""
    path = Path(path)
    config_file = path / CONFIG_NAME
    if not config_file.is_file():
        raise FileNotFoundError(f"no {what} at {str(path)!r}: expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        raw = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(config_file)!r} is not valid JSON ({e})") from e
    config_cls = getattr(model_cls, "config_class", None) if _is_model_class(model_cls) else None
    expected_type = getattr(config_cls, "model_type", "") if config_cls else ""
    if expected_type and raw.get("model_type") != expected_type:
        raise ValueError(
            f"{str(path)!r} does not hold a {what}: its {CONFIG_NAME} has model_type="
            f"{raw.get('model_type')!r}, a {what} has {expected_type!r}"
        )
    try:
        return (config_cls or AutoConfig).from_pretrained(str(path), local_files_only=True)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ValueError(f"cannot read the {what}'s {str(config_file)!r}: {e}") from e


def _is_model_class(model_cls) -> bool:
    return isinstance(model_cls, type) and issubclass(model_cls, PreTrainedModel)


def expected_tensors(model_cls, config) -> tuple[dict[str, tuple[int, ...]], list[list[str]]]:
    """Names and shapes of the model's state dict (parameters and persistent buffers), built on the
    meta device (no memory, no init), and the groups of names that share one tensor (tied weights)."""
    with torch.device("meta"):
        model = model_cls(config) if _is_model_class(model_cls) else model_cls.from_config(config)
    state = model.state_dict(keep_vars=True)
    groups: dict[int, list[str]] = {}
    for name, tensor in state.items():
        groups.setdefault(id(tensor), []).append(name)
    return {name: tuple(t.shape) for name, t in state.items()}, list(groups.values())


def check_tensors(
    expected: dict[str, tuple[int, ...]],
    tied: list[list[str]],
    found: dict[str, tuple[int, ...]],
    path: Path,
    what: str,
) -> None:
    """Raise one line naming every missing, unexpected and wrongly shaped tensor."""
    missing = [group[0] for group in tied if not any(name in found for name in group)]
    unexpected = sorted(name for name in found if name not in expected)
    wrong = [
        f"{name} (the file has {list(found[name])}, the config makes {list(shape)})"
        for name, shape in expected.items()
        if name in found and found[name] != shape
    ]
    problems = []
    if wrong:
        problems.append(f"wrongly shaped: {_names(wrong)}")
    if missing:
        problems.append(f"missing: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected: {_names(unexpected)}")
    if problems:
        raise ValueError(
            f"cannot load the {what} from {str(path)!r}: its weights do not match its {CONFIG_NAME} "
            f"({'; '.join(problems)}); nothing was initialised at random"
        )


def load_pretrained(
    model_cls,
    path: str | Path,
    *,
    dtype: torch.dtype | None = torch.float32,
    device: str | torch.device | None = None,
    what: str = "model",
):
    """A ``save_pretrained`` folder -> ``model_cls`` in eval mode, checked, cast to ``dtype``, on ``device``.

    ``model_cls``: a ``PreTrainedModel`` subclass or a transformers Auto class
    (``AutoModelForCausalLM``); ``what`` names the model in error messages ("tokenizer").
    ``dtype=None`` keeps the dtype the weights are stored in.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no {what} at {str(path)!r}: expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
    config = load_config(model_cls, path, what)
    found = read_header(weight_files(path, what))
    expected, tied = expected_tensors(model_cls, config)
    check_tensors(expected, tied, found, path, what)
    kwargs = {} if dtype is None else {"dtype": dtype}
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per small folder says nothing and buries a user's error line
    try:
        model = model_cls.from_pretrained(
            str(path), config=config, use_safetensors=True, local_files_only=True, **kwargs
        )
    except (OSError, SafetensorError, RuntimeError) as e:
        detail = str(e).replace("\n", " ")
        raise ValueError(f"cannot load the {what} from {str(path)!r}: missing or corrupt files ({detail})") from e
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if dtype is not None:
        model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device)
    return model.eval()
