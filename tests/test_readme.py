"""The README stays true: its settings table and test command match the code and CI."""

import re
from pathlib import Path

from agent.settings import Settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", README, flags=re.MULTILINE))
    defaults = Settings()
    expected = {
        ("OLLAMA_HOST" if name == "ollama_host" else f"RAGCHAT_{name.upper()}"): str(getattr(defaults, name)).lower()
        if isinstance(getattr(defaults, name), bool)
        else str(getattr(defaults, name))
        for name in Settings.model_fields
    }
    expected["RAGCHAT_TEMPERATURE"] = "0"  # written as people type it
    expected["RAGCHAT_EMBEDDING_MODEL"] = "nomic-embed-text"
    for name, value in expected.items():
        if value == "None":
            expected[name] = "unset"  # Ollama's own default, or one measured on the documents, applies
    assert rows == expected


def test_ci_runs_the_readme_test_command() -> None:
    command = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest"
    assert f"```bash\n{command}\n```" in README
    assert (ROOT / ".ci" / "run").read_text().strip().endswith(command)
