"""The pyfunc model through MLflow's own scoring server (in process): bad input gets HTTP 400 with GenForge's message
and no stack trace, and a missing prompt is refused by row instead of generating from "None" or "nan"."""

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import keras
    import mlflow.pyfunc
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    from genforge.text.models import build_lstm, save_generator
    from genforge.text.pyfunc import signature
    from genforge.text.tokenizers import CharTokenizer

    root = tmp_path_factory.mktemp("served")
    tokenizer = CharTokenizer.fit("abc d\n")
    keras.utils.set_random_seed(0)
    (root / "generator").mkdir()
    save_generator(root / "generator", build_lstm(tokenizer.vocab_size, embedding_dim=4, layers=1, units=4),
                   tokenizer)
    mlflow.pyfunc.save_model(root / "model", python_model=str(REPO / "genforge/text/pyfunc_model.py"),
                             artifacts={"generator": str(root / "generator")}, signature=signature())
    model = mlflow.pyfunc.load_model(str(root / "model"))
    return model, TestClient(scoring_server.init(model)), root / "model"


def post(client, body: dict):
    response = client.post("/invocations", json=body)
    return response.status_code, response.json()


@pytest.mark.parametrize("body, message", [
    ({"dataframe_split": {"columns": ["prompt"], "data": [["ab"], [None]]}},
     "prompt must be a string in every row; missing or not a string: row 1"),
    ({"inputs": {"prompt": ["abz"]}}, "prompt has characters outside the model's vocabulary: 'z'"),
    ({"inputs": {"prompt": [""]}}, "prompt must not be empty"),
    ({"inputs": {"prompt": ["ab"]}, "params": {"temperature": -1.0}}, "temperature must be a finite number >= 0"),
])
def test_bad_input_gets_400_with_genforge_message_and_no_stack_trace(client, body, message):
    status, answer = post(client[1], body)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in answer["message"] and "unexpected error" not in answer["message"]
    assert "stack_trace" not in answer and "Traceback" not in answer["message"]


def test_good_input_is_answered_and_a_missing_prompt_is_refused_in_predict(client):
    from mlflow.exceptions import MlflowException

    status, answer = post(client[1], {"inputs": {"prompt": ["ab", "c"]}, "params": {"max_new_tokens": 3}})
    assert status == 200 and [len(row["text"]) for row in answer["predictions"]] == [3, 3]
    with pytest.raises(MlflowException, match=r"row 0 \(None\)"):
        client[0].predict(pd.DataFrame({"prompt": [None]}))


def test_the_cli_refuses_bad_input_to_a_logged_model_in_one_line(client):
    from typer.testing import CliRunner

    from genforge.cli import app

    result = CliRunner().invoke(app, ["generate", "--model", client[2].as_uri(), "--prompt", "abz", "-n", "3"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: prompt has characters outside the model's vocabulary: 'z' (U+007A); remove or replace them")


def test_row_i_uses_seed_plus_i_so_equal_rows_get_two_samples(client):
    body = {"inputs": {"prompt": ["ab", "ab"]}, "params": {"max_new_tokens": 30, "seed": 5}}
    status, answer = post(client[1], body)
    assert status == 200
    first, second = (row["text"] for row in answer["predictions"])
    assert first != second
    alone = post(client[1], {"inputs": {"prompt": ["ab"]}, "params": {"max_new_tokens": 30, "seed": 6}})[1]
    assert alone["predictions"][0]["text"] == second


def test_the_cli_draws_a_fresh_seed_prints_it_and_the_printed_seed_reproduces_the_text(client):
    import re

    from typer.testing import CliRunner

    from genforge.cli import app

    args = ["generate", "--model", client[2].as_uri(), "--prompt", "ab", "-n", "30"]
    runs = [CliRunner().invoke(app, args) for _ in range(2)]
    assert [r.exit_code for r in runs] == [0, 0]
    seeds = [int(re.search(r"^seed: (\d+)$", r.stderr, re.M).group(1)) for r in runs]
    texts = [r.stdout for r in runs]
    assert seeds[0] != seeds[1] and texts[0] != texts[1]
    again = CliRunner().invoke(app, [*args, "--seed", str(seeds[1])])
    assert again.exit_code == 0 and again.stdout == texts[1] and f"seed: {seeds[1]}" in again.stderr
