"""End to end on a tiny project with the shipped text generators and a tiny image, video, image-to-image, audio and
waveform generator: `dvc repro`,
then the Prefect flow (one branch per generator), then the CLI and `mlflow models serve`; each as a user runs them."""

import json
import os
import re
import sys
import time

import pytest
import yaml
from conftest import AUDIO, CHAR, GPT, IMAGE, IMAGE2IMAGE, VIDEO, WAVEFORM, run, tiny_params, write_params

BRANCH = ("preprocess", "train", "optimize", "evaluate", "register")


def dvc_status(root) -> dict:
    return json.loads(run(["dvc", "status", "--json"], root).stdout or "{}")


def stages(*generators, verbs=BRANCH) -> set[str]:
    return {f"{v}@{g}" for g in generators for v in verbs}


@pytest.mark.slow
def test_dvc_repro_then_prefect_flow_then_generate(project, tmp_path):
    write_params(project, tiny_params(project, (CHAR, GPT, IMAGE, VIDEO, IMAGE2IMAGE, AUDIO, WAVEFORM)))
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "seven generators"], project)
    # 1. dvc repro runs every stage of every generator
    start = time.perf_counter()
    run(["dvc", "repro"], project)
    print(f"dvc repro of the tiny project: {time.perf_counter() - start:.1f} s")
    assert dvc_status(project) == {}
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"collect", "report"} | stages(CHAR, GPT, IMAGE, VIDEO, IMAGE2IMAGE, AUDIO, WAVEFORM)
    index = (project / "reports/index.html").read_text()
    assert all(f'<a href="{g}.html">{g}</a>' in index for g in (CHAR, GPT, IMAGE, VIDEO, IMAGE2IMAGE, AUDIO, WAVEFORM))
    video = json.loads((project / f"metrics/{VIDEO}/evaluate.json").read_text())
    assert set(video["per_horizon"]) == {"model", "copy_last_frame", "mean_frame", "black_frame"}
    assert all(len(s["ssim"]) == 3 for s in video["per_horizon"].values())  # 6 frames, 3 of context
    page = (project / f"reports/{VIDEO}.html").read_text()
    assert page.count("data:image/gif;base64,") == 2 and "copy last frame" in page
    translation = json.loads((project / f"metrics/{IMAGE2IMAGE}/evaluate.json").read_text())
    assert set(translation["baselines"]) == {"identity", "unet_l1"} and translation["pairs"] >= 1
    assert set(translation["per_face"]) == {"DejaVuSerif-Bold", "DejaVuSans-Bold"}  # zi2zi: scores per face
    page = (project / f"reports/{IMAGE2IMAGE}.html").read_text()
    assert all(f"<h3>{rank} SSIM</h3>" in page for rank in ("best", "median", "worst")) and "zi2zi" in page
    music = json.loads((project / f"metrics/{AUDIO}/evaluate.json").read_text())
    assert set(music["baselines"]) == {"unigram", "real_tunes"} and music["samples"]["samples"] == 3
    page = (project / f"reports/{AUDIO}.html").read_text()
    assert page.count("<audio controls") == 1 and "data:audio/wav;base64,UklGR" in page  # "RIFF"
    speech = json.loads((project / f"metrics/{WAVEFORM}/evaluate.json").read_text())
    assert set(speech["spectral"]) == {"test audio", "model", "unigram", "training audio"}
    assert speech["efficiency"]["real_time_factor"] > 0 and speech["stability"]["same_seed_identical"]
    page = (project / f"reports/{WAVEFORM}.html").read_text()
    assert page.count("<audio controls") == 1 and "data:audio/wav;base64,UklGR" in page

    # 2. a second repro is a no-op
    start = time.perf_counter()
    out = run(["dvc", "repro"], project).stdout
    print(f"no-op dvc repro: {time.perf_counter() - start:.1f} s")
    assert "Data and pipelines are up to date" in out

    # 3. editing a file of genforge/video makes the video generator's stages stale, and the report, not collect nor
    #    another generator's; editing genforge/text makes every generator's stale (the audio and waveform
    #    modalities use it, and DVC cannot declare that for their generators alone)
    for edited, stale in (("genforge/video/metrics.py", stages(VIDEO)),
                          ("genforge/text/clean.py", stages(CHAR, GPT, IMAGE, VIDEO, IMAGE2IMAGE, AUDIO, WAVEFORM))):
        original = (project / edited).read_text()
        (project / edited).write_text(original + "\n# an edit\n")
        assert set(dvc_status(project)) == stale | {"report"}
        (project / edited).write_text(original)
    assert dvc_status(project) == {}

    # 4. changing one generator's train.epochs makes that generator's train, optimize, evaluate and register stale,
    #    and the report over all generators (it declares the whole table), no other generator's stage (optimize,
    #    evaluate and register read the train section themselves: the pruning fine-tune, the extra seeds, the input
    #    example)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generators"][CHAR]["train"]["epochs"] = 3
    write_params(project, params)
    assert set(dvc_status(project)) == stages(CHAR, verbs=("train", "optimize", "evaluate", "register")) | {"report"}

    # 5. the Prefect flow reproduces the stale stages through DVC; afterwards nothing is stale
    env_home = tmp_path / "prefect-home"
    start = time.perf_counter()
    proc = run_flow(project, env_home)
    print(f"Prefect flow on the tiny project: {time.perf_counter() - start:.1f} s")
    assert "Finished in state Completed" in proc.stdout + proc.stderr
    assert dvc_status(project) == {}
    assert json.loads((project / f"metrics/{CHAR}/register.json").read_text())["version"] == 2
    assert json.loads((project / f"metrics/{GPT}/register.json").read_text())["version"] == 1
    new_lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    for stage in {"collect", f"preprocess@{CHAR}"} | stages(GPT, IMAGE, VIDEO, IMAGE2IMAGE, AUDIO, WAVEFORM):
        assert new_lock[stage] == lock[stage], stage
    for verb in ("train", "optimize", "evaluate", "register"):
        assert new_lock[f"{verb}@{CHAR}"] != lock[f"{verb}@{CHAR}"], verb
    assert re.search(r"Prefect artifact genforge-report: [0-9a-f-]{36}", proc.stdout + proc.stderr)
    # the log holds the stages' own lines, not TensorFlow's start-up lines nor DVC's hints after every stage
    log = proc.stdout + proc.stderr
    assert "progress: step" in log or "Epoch 1/" in log
    assert "cpu_feature_guard" not in log and "To track the changes with git" not in log
    assert log.count("commit them (git add dvc.lock metrics reports)") == 1

    # 6. a failing branch fails its generator and the flow; the other branch finishes (here: is up to date)
    params["generators"][GPT]["train"]["seq_len"] = 100_000
    write_params(project, params)
    failed = run_flow(project, env_home, check=False)
    assert failed.returncode == 1
    assert f"generators failed: {GPT} (train" in failed.stderr
    assert f"The others finished: {CHAR}, {IMAGE}, {VIDEO}, {IMAGE2IMAGE}, {AUDIO}, {WAVEFORM}" in failed.stderr
    assert json.loads((project / f"metrics/{CHAR}/register.json").read_text())["version"] == 2
    assert set(dvc_status(project)) == stages(GPT, verbs=("train", "optimize", "evaluate", "register")) | {"report"}

    # 7. the CLI generates from the registry with the champion alias, the same text for the same seed
    args = ["genforge", "generate", "--model", f"models:/genforge-{CHAR}@champion", "--prompt", "KING:", "-n", "50",
            "--seed", "3"]
    first, second = run(args, project).stdout, run(args, project).stdout
    assert first == second and first.startswith("KING:") and len(first.rstrip("\n")) >= 5 + 50 - 1
    stop = first[15:17]
    cut = run([*args, "--stop", stop, "--stop", "QQQQ"], project).stdout
    assert cut == first[:first.index(stop, 5)] + "\n"
    bad = run(["genforge", "generate", "--model", f"models/optimized/{CHAR}", "--prompt", "K~NG"], project,
              check=False)
    assert bad.returncode == 2 and "outside the model's vocabulary" in bad.stderr

    # 8. an image generator's champion: the CLI writes the same grid for the same seed, and `mlflow models serve`
    #    over REST answers with the images of that grid
    draw_and_serve(project, tmp_path)

    # 9. a video generator's champion: the CLI and `mlflow models serve` continue a clip with the same frames
    continue_and_serve(project, tmp_path)

    # 10. an image-to-image generator's champion: the CLI and `mlflow models serve` translate a test character's
    #     glyph into the same image
    translate_and_serve(project, tmp_path)

    # 11. an audio generator's champion: `mlflow models serve` and the CLI give the same tune for the same seed
    compose_and_serve(project, tmp_path)

    # 12. a waveform generator's champion: `mlflow models serve` and the CLI give the same clip for the same seed
    speak_and_serve(project, tmp_path)


def speak_and_serve(project, tmp_path):
    import base64
    import urllib.error
    import urllib.request

    from test_servers import background, environment, free_port, wait_for

    uri = f"models:/genforge-{WAVEFORM}@champion"
    port = free_port()
    with background(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p",
                     str(port)], environment(project), tmp_path / "serve-waveform.log", cwd=project) as server:
        wait_for(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve-waveform.log")

        def ask(body):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())["predictions"]

        clips = ask({"dataframe_records": [{"seed": 5}, {"seed": 6}], "params": {"seconds": 0.1}})
        with pytest.raises(urllib.error.HTTPError) as refused:
            ask({"dataframe_records": [{"seed": -1}]})
        assert refused.value.code == 400 and "row 0 (-1)" in refused.value.read().decode()
    assert [c["seconds"] for c in clips] == [0.1, 0.1] and clips[0]["wav"] != clips[1]["wav"]
    run(["genforge", "generate", "--model", uri, "--seed", "6", "--seconds", "0.1", "--out", "clip.wav"], project)
    assert (project / "clip.wav").read_bytes() == base64.b64decode(clips[1]["wav"])  # row 1 of a request: seed 6
    bad = run(["genforge", "generate", "--model", uri, "--seed", "1", "--out", "clip.mid"], project, check=False)
    assert bad.returncode == 2 and "write its output as .wav, not .mid" in bad.stderr


def compose_and_serve(project, tmp_path):
    import base64
    import urllib.error
    import urllib.request

    from test_servers import background, environment, free_port, wait_for

    uri = f"models:/genforge-{AUDIO}@champion"
    port = free_port()
    with background(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p",
                     str(port)], environment(project), tmp_path / "serve-audio.log", cwd=project) as server:
        wait_for(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve-audio.log")

        def ask(records):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                             data=json.dumps({"dataframe_records": records}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())["predictions"]

        tunes = ask([{"seed": s} for s in range(1, 9)])
        with pytest.raises(urllib.error.HTTPError) as refused:  # MLflow's schema check names the missing column
            ask([{"prompt": "M:"}])
        assert refused.value.code == 400 and "seed" in refused.value.read().decode()
    seed, tune = next((s, t) for s, t in enumerate(tunes, 1) if t["parsed"])  # the tiny model's first that parses
    assert base64.b64decode(tune["wav"])[:4] == b"RIFF" and base64.b64decode(tune["midi"])[:4] == b"MThd"
    shown = run(["genforge", "generate", "--model", uri, "--seed", str(seed), "--out", "tune.wav"], project).stdout
    assert shown.rstrip("\n") == tune["abc"].rstrip("\n")
    assert (project / "tune.wav").read_bytes() == base64.b64decode(tune["wav"])
    bad = run(["genforge", "generate", "--model", uri, "--seed", "1", "--out", "tune.mp3"], project, check=False)
    assert bad.returncode == 2 and "name a .wav, .mid or .abc file" in bad.stderr


def translate_and_serve(project, tmp_path):
    import base64
    import io
    import urllib.error
    import urllib.request

    import numpy as np
    from PIL import Image
    from test_servers import background, environment, free_port, wait_for

    from genforge.image2image.pyfunc import png_base64

    uri = f"models:/genforge-{IMAGE2IMAGE}@champion"  # a zi2zi generator of two faces (conftest)
    glyph = np.load(project / f"data/processed/{IMAGE2IMAGE}/test_input.npy")[0, ..., 0]
    Image.fromarray(glyph).save(project / "glyph.png")
    run(["genforge", "translate", "--model", uri, "--input", "glyph.png", "--out", "translated.png"], project)
    run(["genforge", "translate", "--model", uri, "--input", "glyph.png", "--out", "bold.png", "--face",
         "DejaVuSans-Bold"], project)
    port = free_port()
    with background(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p",
                     str(port)], environment(project), tmp_path / "serve-i2i.log", cwd=project) as server:
        wait_for(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve-i2i.log")

        def ask(image, face=None):
            body = {"dataframe_records": [{"image": png_base64(image)}], **({"params": {"face": face}} if face else {})}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["predictions"][0]["image"]

        served = np.asarray(Image.open(io.BytesIO(base64.b64decode(ask(glyph)))))
        bold = np.asarray(Image.open(io.BytesIO(base64.b64decode(ask(glyph, "DejaVuSans-Bold")))))
        with pytest.raises(urllib.error.HTTPError) as refused:  # another size than the model's 16x16
            ask(glyph[:8])
        assert refused.value.code == 400 and "translates 16x16 images" in refused.value.read().decode()
        with pytest.raises(urllib.error.HTTPError) as unknown:
            ask(glyph, "Comic")
        assert unknown.value.code == 400
        assert "it draws DejaVuSerif-Bold, DejaVuSans-Bold" in unknown.value.read().decode()
    assert np.array_equal(served, np.asarray(Image.open(project / "translated.png")))
    assert np.array_equal(bold, np.asarray(Image.open(project / "bold.png")))


def continue_and_serve(project, tmp_path):
    import base64
    import io
    import urllib.error
    import urllib.request

    import numpy as np
    from PIL import Image
    from test_servers import background, environment, free_port, wait_for

    from genforge.video.media import gif_bytes, png_base64, read_clip

    uri = f"models:/genforge-{VIDEO}@champion"
    clip = np.load(project / f"data/processed/{VIDEO}/test.npy")[0, :3]  # a test sequence's context
    (project / "clip.gif").write_bytes(gif_bytes(clip))
    run(["genforge", "generate", "--model", uri, "--input", "clip.gif", "--frames", "4", "--out", "next.gif"],
        project)
    port = free_port()
    with background(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p",
                     str(port)], environment(project), tmp_path / "serve-video.log", cwd=project) as server:
        wait_for(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve-video.log")

        def ask(frames, num_frames):
            body = {"dataframe_records": [{"frames": [png_base64(f) for f in frames], "num_frames": num_frames}]}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["predictions"][0]["frames"]

        served = [np.asarray(Image.open(io.BytesIO(base64.b64decode(f)))) for f in ask(clip, 4)]
        with pytest.raises(urllib.error.HTTPError) as refused:  # fewer frames than the model's context
            ask(clip[:2], 4)
        assert refused.value.code == 400 and "needs 3 frames of context" in refused.value.read().decode()
    assert np.array_equal(np.stack(served)[..., None], read_clip(project / "next.gif"))


def draw_and_serve(project, tmp_path):
    import base64
    import io
    import urllib.request

    import numpy as np
    from PIL import Image
    from test_servers import background, environment, free_port, wait_for

    from genforge.image.grid import grid

    uri = f"models:/genforge-{IMAGE}@champion"
    for name in ("a.png", "b.png"):
        run(["genforge", "generate", "--model", uri, "-n", "6", "--seed", "2", "--out", name], project)
    assert (project / "a.png").read_bytes() == (project / "b.png").read_bytes()
    bad = run(["genforge", "generate", "--model", uri, "-n", "0", "--out", "c.png"], project, check=False)
    assert bad.returncode == 2 and "num_images must be between 1 and 1024, got 0" in bad.stderr
    port = free_port()
    with background(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p",
                     str(port)], environment(project), tmp_path / "serve.log", cwd=project) as server:
        wait_for(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve.log")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                         data=b'{"inputs": {"num_images": 6, "seed": 2}}',
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = __import__("json").loads(response.read())["predictions"]
    served = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(r["image"])))) for r in rows])
    assert np.array_equal(grid(served[..., None], columns=6)[..., 0], np.asarray(Image.open(project / "a.png")))


def run_flow(project, prefect_home, check: bool = True):
    import subprocess

    from conftest import BIN

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_HOME": str(prefect_home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PREFECT_API_URL", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the flow quiets TensorFlow itself, not only under make
    proc = subprocess.run([sys.executable, "-m", "pipelines.training"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc
