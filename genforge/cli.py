"""The ``genforge`` command line."""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genforge import GenForgeError
from genforge.text.sampling import DEFAULTS

app = typer.Typer(help="GenForge: train, evaluate and sample generative models.", no_args_is_help=True,
                  add_completion=False)


@app.callback()
def _main() -> None:
    """GenForge command line."""


@app.command()
def generate(
    model: Annotated[str, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model, or a "
                                            "local model folder (models/optimized)")],
    prompt: Annotated[str, typer.Option(help="text to continue [default: a newline]", show_default=False)] = "\n",
    max_new_tokens: Annotated[int | None, typer.Option(
        "--max-new-tokens", "-n", min=0, show_default=False,
        help=f"tokens to generate [default: {DEFAULTS['max_new_tokens']}]; for an image generator, images to draw; "
             "for an audio generator, characters of ABC at most [default: the model's]")] = None,
    temperature: Annotated[float | None, typer.Option(
        min=0.0, show_default=False, help=f"0 = greedy [default: {DEFAULTS['temperature']}; an audio generator's: the "
                                          "model's]")] = None,
    top_k: Annotated[int, typer.Option(min=0, help="sample among the k most likely tokens; 0 = all")] =
    DEFAULTS["top_k"],
    top_p: Annotated[float, typer.Option(max=1.0, help="nucleus sampling mass, in (0, 1]; 1 = off")] =
    DEFAULTS["top_p"],
    seed: Annotated[int | None, typer.Option(help="random seed: the same seed gives the same text [default: a fresh "
                                                  "one, printed]", show_default=False)] = None,
    stop: Annotated[list[str] | None, typer.Option(help="stop sequence (repeatable): the text ends before the first "
                                                        "one generated")] = None,
    out: Annotated[Path | None, typer.Option(help="image generators: the PNG file the grid of images is written to; "
                                                  "video generators: the GIF of the generated frames; audio "
                                                  "generators: the tune as .wav, .mid or .abc; waveform generators: "
                                                  "the clip as .wav")] = None,
    input_clip: Annotated[Path | None, typer.Option("--input", help="video generators: the clip to continue (an "
                                                                    "animated GIF, or a folder of PNG frames)")] = None,
    frames: Annotated[int | None, typer.Option(min=1, help="video generators: frames to generate [default: the "
                                                          "model's horizon]", show_default=False)] = None,
    seconds: Annotated[float | None, typer.Option(min=0.0, help="waveform generators: seconds of "
                                                  "audio [default: the model's]", show_default=False)] = None,
) -> None:
    """Print the prompt followed by MAX_NEW_TOKENS generated tokens (fewer when a stop sequence ends it); for an
    image generator, write a grid of -n images to --out (a PNG, 10 columns, row by row).

    A prompt character outside a char model's vocabulary is an error (it names the characters). Without ``--seed``
    a fresh seed is drawn; the seed used is printed to standard error (``seed: N``), so that the text can be
    generated again. While the model loads and generates, a status line on standard error says so.

    For a video generator, the frames after the clip ``--input`` (its last frames, as many as the model's context)
    are written to ``--out`` as an animated GIF; ``--seed`` and the sampling options do not apply (generation is
    deterministic: the same clip gives the same frames as the served model).

    For an audio generator (an MLflow model URI), the tune of ``--seed`` is printed as ABC and written to ``--out``
    by its suffix: ``.wav`` (rendered with the model's soundfont), ``.mid`` or ``.abc``; the served model answers the
    same seed with the same tune. For a waveform generator, the clip of ``--seed`` (``--seconds`` long) is written
    to ``--out`` as a .wav file, the same clip the served model answers.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if seed is None:
        seed = secrets.randbelow(2**31)
    console = Console(stderr=True)
    console.print(f"seed: {seed}", highlight=False)
    try:
        with console.status(f"loading {model} and generating ..."):
            if _is_video_generator(model):
                written = _continue_clip(model, input_clip, frames, out)
                console.print(f"wrote {written} frames to {out}", highlight=False)
                return
            n = DEFAULTS["max_new_tokens"] if max_new_tokens is None else max_new_tokens
            if _is_image_generator(model):
                _draw_grid(model, n, seed, out)
                console.print(f"wrote {n} images to {out}", highlight=False)
                return
            if _is_audio_generator(model) or (out is not None and out.suffix.lower() in AUDIO_SUFFIXES):
                settings = {"temperature": temperature, "max_new_tokens": max_new_tokens, "seconds": seconds}
                typer.echo(_compose(model, seed, settings, out))  # None: the model's defaults
                console.print(f"wrote the piece of seed {seed} to {out}", highlight=False)
                return
            temperature = DEFAULTS["temperature"] if temperature is None else temperature
            text = _generate(model, prompt, max_new_tokens=n, temperature=temperature, top_k=top_k,
                             top_p=top_p, seed=seed, stop=stop or [])
    except GenForgeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(prompt + text)


def _is_uri(model: str) -> bool:
    return "://" in model or model.startswith(("models:/", "runs:/"))


@functools.cache
def _pyfunc(uri: str):
    """The logged model at ``uri``, loaded once per process (:func:`genforge.core.tracking.load_pyfunc`)."""
    from genforge.core.tracking import load_pyfunc

    return load_pyfunc(uri)


def _is_image_generator(model: str) -> bool:
    """Whether ``model`` is an image generator: its signature takes ``num_images`` (a URI), or the folder holds an
    image generator's spec.json."""
    if _is_uri(model):
        schema = _pyfunc(model).metadata.get_input_schema()
        return schema is not None and "num_images" in schema.input_names()
    return (Path(model) / "spec.json").is_file()


def _is_video_generator(model: str) -> bool:
    """Whether ``model`` is a video generator: its signature takes ``frames`` (a URI), or the folder holds a
    predictor."""
    if _is_uri(model):
        schema = _pyfunc(model).metadata.get_input_schema()
        return schema is not None and "frames" in schema.input_names()
    return (Path(model) / "predictor.keras").is_file()


def _is_audio_generator(model: str) -> bool:
    """Whether ``model`` (a URI) is an audio or waveform generator: its signature's outputs include ``wav``."""
    return "wav" in _outputs(model)


def _outputs(model: str) -> list[str]:
    """The output columns of ``model``'s signature (``[]`` for a local folder or a model without one)."""
    if not _is_uri(model):
        return []
    outputs = _pyfunc(model).metadata.get_output_schema()
    return [] if outputs is None else outputs.input_names()


AUDIO_SUFFIXES = {".wav": "wav", ".mid": "midi", ".midi": "midi", ".abc": "abc"}


def _compose(model: str, seed: int, settings: dict, out: Path | None) -> str:
    """The tune or clip of ``seed`` from an audio or waveform generator (the served model's answer), sampled with
    ``settings`` (``temperature``, ``max_new_tokens``, ``seconds``; ``None``: the model's default), written to
    ``out`` by its suffix (through a temporary file); return its ABC, or its length for a clip.

    Raises:
        GenForgeError: no ``--out``, an unknown suffix or a folder that does not exist, a local folder or a model
            that is not an audio generator, a suffix the model does not answer (a clip as .mid), a setting the
            model does not take, a tune that does not parse asked for as WAV or MIDI, or the model refuses the
            input. Each is checked before the tune is generated, where it can be.
    """
    import base64

    import pandas as pd
    from mlflow.exceptions import MlflowException

    from genforge.core.files import atomic_path

    kind = AUDIO_SUFFIXES.get(out.suffix.lower()) if out is not None else None
    if kind is None or out.is_dir() or not out.parent.is_dir():
        raise GenForgeError(f"an audio generator writes its tune to --out: name a .wav, .mid or .abc file in a folder "
                            f"that exists (got {out})")
    if not _is_uri(model):
        raise GenForgeError(f"{model}: a tune is rendered by a registered audio generator, which carries its "
                            "soundfont: give --model models:/genforge-<name>@champion (or runs:/<run id>/model)")
    outputs = _outputs(model)
    if "wav" not in outputs:
        raise GenForgeError(f"{model} is not an audio generator (it answers no 'wav'): .wav, .mid and .abc outputs "
                            "are for audio generators")
    if kind not in outputs:
        raise GenForgeError(f"{model} answers {', '.join(outputs)}: write its output as .wav, not {out.suffix}")
    schema = _pyfunc(model).metadata.get_params_schema()
    accepted = [p.name for p in schema.params] if schema is not None else []
    params = {k: v for k, v in settings.items() if v is not None}
    option = {"max_new_tokens": "-n/--max-new-tokens", "seconds": "--seconds", "temperature": "--temperature"}
    refused = [option[k] for k in params if k not in accepted]
    if refused:
        raise GenForgeError(f"{model} does not take {', '.join(refused)}; it takes {', '.join(accepted)}")
    try:
        row = _pyfunc(model).predict(pd.DataFrame({"seed": [seed]}), params=params).iloc[0]
    except MlflowException as e:
        raise GenForgeError(e.message) from None
    if kind != "abc" and not row.get("parsed", True):
        raise GenForgeError(f"the tune of seed {seed} does not parse (music21), so it has no {kind.upper()}: try "
                            "another seed, or write it as .abc")
    try:
        with atomic_path(out) as tmp:
            tmp.write_bytes(row["abc"].encode() if kind == "abc" else base64.b64decode(row[kind]))
    except OSError as e:
        raise GenForgeError(f"cannot write {out}: {e}") from None
    return row["abc"] if "abc" in row else f"{row['seconds']:.3f} s of audio"


def _continue_clip(model: str, clip_path: Path | None, n: int | None, out: Path | None) -> int:
    """Generate the frames after the clip at ``clip_path`` with a video generator (the served model's answer, for
    a URI) and write them to ``out`` as an animated GIF; return how many.

    Raises:
        GenForgeError: no ``--input`` or ``--out``, a clip that does not decode or is too short, frames of another
            size than the model's, or an unreadable model.
    """
    from genforge.video.media import frames_from_base64, png_base64, read_clip, write_gif

    if clip_path is None or out is None:
        raise GenForgeError("a video generator continues a clip: give --input clip.gif (or a folder of PNG frames) "
                            "and --out next.gif")
    clip = read_clip(clip_path)
    if _is_uri(model):
        import pandas as pd
        from mlflow.exceptions import MlflowException

        request = {"frames": [[png_base64(f) for f in clip]]}
        if n is not None:
            request["num_frames"] = [n]
        try:
            frame = _pyfunc(model).predict(pd.DataFrame(request))
        except MlflowException as e:
            raise GenForgeError(e.message) from None
        generated = frames_from_base64(list(frame["frames"][0]))
    else:
        from genforge.video.pyfunc import predict_frames
        from genforge.video.store import load_predictor

        network, spec = load_predictor(model)
        generated = predict_frames(network, spec, clip, spec["horizon"] if n is None else n)
    write_gif(generated, out)
    return len(generated)


def _draw_grid(model: str, n: int, seed: int, out: Path | None) -> None:
    """Draw ``n`` images with ``seed`` from an image generator (the served model's answer, for a URI) and write their
    grid to ``out``.

    Raises:
        GenForgeError: no ``out``, ``n`` the model refuses, or an unreadable model.
    """
    import numpy as np

    from genforge.image.grid import grid, save_png

    if out is None:
        raise GenForgeError("an image generator writes a PNG grid: give --out, such as --out grid.png")
    if _is_uri(model):
        import base64
        import io

        import pandas as pd
        from mlflow.exceptions import MlflowException
        from PIL import Image

        try:
            frame = _pyfunc(model).predict(pd.DataFrame({"num_images": [n], "seed": [seed]}))
        except MlflowException as e:
            raise GenForgeError(e.message) from None
        images = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(b)))) for b in frame["image"]])
    else:
        from genforge.image.sampling import generate as draw
        from genforge.image.store import load_generator

        network, spec = load_generator(model)
        try:
            images = draw(network, spec, n, seed)
        except ValueError as e:
            raise GenForgeError(str(e)) from None
    save_png(grid(images if images.ndim == 4 else images[..., None], columns=min(n, 10)), out)


def _generate(model: str, prompt: str, *, max_new_tokens: int, temperature: float, top_k: int, top_p: float,
              seed: int, stop: list[str]) -> str:
    """The continuation of ``prompt`` by ``model`` (an MLflow model URI or a local model folder).

    Raises:
        GenForgeError: the model refuses the input (its message), or ``model`` is neither a folder nor a URI.
    """
    if _is_uri(model):
        import pandas as pd
        from mlflow.exceptions import MlflowException

        try:
            return _pyfunc(model).predict(
                pd.DataFrame({"prompt": [prompt]}),
                params={"max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k,
                        "top_p": top_p, "seed": seed, "stop": stop},
            )["text"][0]
        except MlflowException as e:  # the pyfunc model refuses bad input as MLflow's server expects
            if e.error_code != "INVALID_PARAMETER_VALUE":
                raise
            raise GenForgeError(e.message) from None
    from genforge.text.models import load_generator
    from genforge.text.sampling import generate as sample

    if not Path(model).is_dir():
        raise GenForgeError(f"{model}: not a model folder or MLflow model URI")
    net, tokenizer = load_generator(model)
    return sample(net, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                  top_p=top_p, seed=seed, stop=stop)


@app.command()
def translate(
    model: Annotated[str, typer.Option(help="an image-to-image generator: models:/NAME@ALIAS, models:/NAME/VERSION, "
                                            "runs:/ID/model, or a local model folder (models/optimized/NAME)")],
    input_path: Annotated[Path, typer.Option("--input", help="an image file, or a folder of images")],
    out: Annotated[Path, typer.Option(help="the output PNG (for a file) or folder (for a folder)")],
    face: Annotated[str | None, typer.Option(help="zi2zi generators: the target face to draw (default: the "
                                                  "model's default face)")] = None,
) -> None:
    """Translate an image (or every image of a folder, by relative name) with an image-to-image generator and write
    the output as PNG: one file for a file, a folder of ``<name>.png`` for a folder. A URI answers through the
    logged model, as ``mlflow models serve`` does; the output is the same. An input of another size than the
    model's, a file that does not decode, or a face the model does not draw is refused by name (exit status 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    console = Console(stderr=True)
    try:
        with console.status(f"loading {model} and translating ..."):
            written = _translate(model, input_path, out, face)
    except GenForgeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    console.print(f"wrote {written} image{'s' if written != 1 else ''} to {out}", highlight=False)


def _translate(model: str, input_path: Path, out: Path, face: str | None = None) -> int:
    """Translate ``input_path`` (a file or folder) into ``out``; return how many images were written. A folder's
    outputs are written into a temporary folder beside ``out`` first and moved into place when all are there.

    Raises:
        GenForgeError: the input is missing or holds no image; ``out`` is the input folder or lies inside it, is a
            folder where a file is asked for, or two inputs would write one output; a file does not decode or has
            another size than the model's; the model is unreadable; an output cannot be written (named).
    """
    import shutil
    import tempfile

    from PIL import Image

    files, targets = _translation_plan(input_path, out)
    outputs = _translated(model, [_read_input(p) for p in files], [str(p) for p in files], face)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
            staged = [Path(tmp) / t.relative_to(out) if input_path.is_dir() else Path(tmp) / out.name for t in targets]
            for path, image in zip(staged, outputs, strict=True):
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(path, format="PNG")
            for path, target in zip(staged, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
    except OSError as e:
        raise GenForgeError(f"{out}: cannot write the output there ({e.strerror or e})") from None
    return len(files)


def _translation_plan(input_path: Path, out: Path) -> tuple[list[Path], list[Path]]:
    """The input files and the output file of each, checked before the model loads (:func:`_translate`)."""
    from genforge.image2image.pairs import IMAGE_SUFFIXES

    if input_path.is_dir():
        if out.resolve() == input_path.resolve() or input_path.resolve() in out.resolve().parents:
            raise GenForgeError(f"{out}: the output folder is the input folder or inside it; choose another --out")
        files = sorted(p for p in input_path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        targets = [out / p.relative_to(input_path).with_suffix(".png") for p in files]
        seen: dict[Path, Path] = {}
        for file, target in zip(files, targets, strict=True):
            if target in seen:
                raise GenForgeError(f"{seen[target]} and {file} would both be written to {target}; rename one")
            seen[target] = file
    elif input_path.is_file():
        if out.is_dir():
            raise GenForgeError(f"{out} is a folder; for an input file give an output file, such as {out}/out.png")
        files, targets = [input_path], [out]
    else:
        raise GenForgeError(f"{input_path}: no such file or folder")
    if not files:
        raise GenForgeError(f"{input_path}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, targets


def _read_input(path: Path):
    """One input image as grayscale ``uint8 (H, W)`` (:func:`genforge.image2image.pairs.read_image`).

    Raises:
        GenForgeError: the file cannot be read, does not decode, or declares more pixels than Pillow's safety limit.
    """
    from PIL import Image

    from genforge.image2image.pairs import read_image

    try:
        return read_image(path)
    except Image.DecompressionBombError as e:
        raise GenForgeError(f"{path}: {e}") from None
    except OSError as e:
        raise GenForgeError(f"{path}: cannot read it ({e.strerror or e})") from None


def _translated(model: str, images: list, names: list[str], face: str | None = None):
    """The outputs ``uint8 (N, H, W)`` of ``images`` by ``model`` (the served model's answer, for a URI), drawn in
    ``face`` by a zi2zi generator."""
    if _is_uri(model):
        import numpy as np
        import pandas as pd
        from mlflow.exceptions import MlflowException

        from genforge.image2image.pyfunc import image_from_base64, png_base64

        loaded = _pyfunc(model)
        if face is not None and loaded.metadata.get_params_schema() is None:
            raise GenForgeError(f"{model} draws one face and takes no --face (got {face!r})")
        try:
            frame = loaded.predict(pd.DataFrame({"image": [png_base64(x) for x in images]}),
                                   params=None if face is None else {"face": face})
        except MlflowException as e:
            message = e.message
            for r, name in enumerate(names):  # the served model names rows; the CLI names files
                message = message.replace(f"row {r} ", f"{name} ")
            raise GenForgeError(message) from None
        return np.stack([image_from_base64(b) for b in frame["image"]])
    from genforge.image2image.pyfunc import predict_images
    from genforge.image2image.store import load_generator

    generator, spec = load_generator(model)
    return predict_images(generator, spec, images, names, face)


@app.command("ui-links")
def ui_links(url: Annotated[str, typer.Option(help="where the MLflow UI is served")] = "http://127.0.0.1:5000") -> None:
    """Print the MLflow UI link that opens each generator's experiment on its runs (`make ui` prints them)."""
    from genforge.core.tracking import runs_page_links

    try:
        links = runs_page_links(url)
    except GenForgeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if not links:
        typer.echo(f"no genforge-* experiments yet: `make run` makes them; then open {url.rstrip('/')}")
    for name, link in links.items():
        typer.echo(f"{name}: {link}")


PROFILES = Path("profiles")


def profile_overrides(name: str, generator: str, params_file: Path = Path("params.yaml")) -> list[str]:
    """The ``dvc exp run`` arguments that apply ``profiles/<name>.yaml`` to generator ``generator`` of
    ``params_file``: ``-S generators.<generator>.<key>=value`` per leaf key of the profile (lists as YAML flow
    sequences).

    Raises:
        GenForgeError: no such profile (the message lists the profiles) or generator, or the merged parameters are
            invalid (the message names the key, as :func:`genforge.core.config.load_params` does).
    """
    import tempfile

    import yaml

    from genforge.core.config import load_params

    path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml"))) or "none"
        raise GenForgeError(f"{path}: no such profile (profiles: {known})")
    profile = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    generators = merged.get("generators") or {}
    if generator not in generators:
        raise GenForgeError(f"{params_file}: no generator {generator!r} (generators: {', '.join(generators)})")
    args: list[str] = []

    def walk(over: dict, base: dict, prefix: str) -> None:
        for key, value in over.items():
            if isinstance(value, dict):
                walk(value, base.setdefault(key, {}), f"{prefix}{key}.")
            else:
                base[key] = value
                text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
                args.append(f"{prefix}{key}={text}")

    walk(profile, generators[generator], f"generators.{generator}.")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(merged, f)
    try:
        load_params(f.name)
    except GenForgeError as e:
        raise GenForgeError(str(e).replace(f.name, f"{params_file} with {path}")) from None
    finally:
        os.unlink(f.name)
    return [a for arg in args for a in ("-S", arg)]


@app.command()
def profile(name: Annotated[str, typer.Argument(help="a file name in profiles/ without .yaml: cpu, cpu-gpt, gpu, ...")],
            generator: Annotated[str, typer.Argument(help="the generator of params.yaml it applies to")]) -> None:
    """Print the `dvc exp run` arguments of a profile for one generator:
    dvc exp run $(genforge profile gpu plays-char-lstm)."""
    try:
        typer.echo(" ".join(profile_overrides(name, generator)))
    except GenForgeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
