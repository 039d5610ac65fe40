"""Print the README's configuration table from app/config.py's SETTINGS (one source of truth)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.config import SETTINGS  # noqa: E402


def table() -> str:
    """The Markdown table of every environment setting."""
    lines = ["| variable | default | secret | what it does |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "*(required)*" if s.default is None else (f"`{s.default}`" if s.default != "" else "*(empty)*")
        lines.append(f"| `{s.name}` | {default} | {'yes' if s.secret else ''} | {s.help.replace('|', '/')} |")
    return "\n".join(lines)


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_table() -> str:
    """The table currently between the README's markers."""
    text = README.read_text()
    return text[text.index(START) + len(START):text.index(END)].strip()


def write_readme() -> None:
    """Replace the README's table with the one generated from SETTINGS."""
    text = README.read_text()
    head, tail = text[:text.index(START) + len(START)], text[text.index(END):]
    README.write_text(f"{head}\n{table()}\n{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_readme()
    else:
        print(table())
