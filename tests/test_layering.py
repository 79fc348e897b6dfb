"""Who may import whom: ``pipelines -> tasks -> genforge.<modality> -> genforge.core``, never backwards."""

import ast
from pathlib import Path

import pytest

GENFORGE = Path(__file__).resolve().parents[1] / "genforge"
MODALITIES = sorted(p.name for p in GENFORGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
                    and p.name != "core")


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement names anywhere in ``path`` (functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(folder: Path, forbidden: list[str]) -> list[str]:
    return sorted(f"{path.relative_to(GENFORGE.parent)} imports {name}"
                  for path in folder.rglob("*.py") for name in imported_modules(path)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


def test_text_is_a_modality_package():
    assert "text" in MODALITIES


def test_core_imports_no_modality_package():
    assert offending(GENFORGE / "core", [f"genforge.{m}" for m in MODALITIES] + ["tasks", "pipelines"]) == []


def uses(modality: str) -> tuple[str, ...]:
    """The modality packages ``modality`` declares it imports (``Modality.uses``)."""
    from genforge.core.modality import get_modality

    return tuple(getattr(get_modality(modality), "uses", ()))


@pytest.mark.parametrize("modality", MODALITIES)
def test_a_modality_imports_no_other_modality_but_those_it_uses_nor_the_stages(modality):
    others = [f"genforge.{m}" for m in MODALITIES if m != modality and m not in uses(modality)]
    assert offending(GENFORGE / modality, others + ["tasks", "pipelines"]) == []


@pytest.mark.parametrize("modality", MODALITIES)
def test_a_modality_reaches_those_it_uses_through_public_names_only(modality):
    private = [name for path in (GENFORGE / modality).rglob("*.py") for name in imported_modules(path)
               if any(name.startswith(f"genforge.{m}.") for m in uses(modality))
               and any(part.startswith("_") for part in name.split("."))]
    assert private == []
    assert all(u in MODALITIES and u != modality for u in uses(modality))


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    planted = tmp_path / "core"
    planted.mkdir()
    (planted / "bad.py").write_text("def f():\n    from genforge.text.models import load_generator\n")
    names = imported_modules(planted / "bad.py")
    assert "genforge.text.models" in names
