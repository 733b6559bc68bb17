"""Regenerate the config documentation from ``config.SETTINGS``: ``python config_docs.py``.

``config.SETTINGS`` takes every contract-fed default from the function
families' contracts (``handlers/*/contract.py``), so after changing a default
there, this rewrites the ``default:`` lines of ``Pulumi.yaml`` (comments and
layout kept) and the README's configuration table. Tests keep both equal to
``SETTINGS`` (tests/foundation/test_config.py, tests/contracts/). Apart from
``config.py`` so the deploy program never imports PyYAML (a dev dependency).
"""

from __future__ import annotations

from pathlib import Path

import yaml

import config

README_TABLE_MARKERS = ("<!-- CONFIG-TABLE:BEGIN -->\n", "\n<!-- CONFIG-TABLE:END -->")


def readme_with_reference(readme: str) -> str:
    """``readme`` with its config table regenerated (``markdown_reference``)."""
    begin, end = README_TABLE_MARKERS
    head, rest = readme.split(begin, 1)
    return head + begin + config.markdown_reference() + end + rest.split(end, 1)[1]


def pulumi_yaml_with_defaults(text: str) -> str:
    """``Pulumi.yaml``'s text with every scalar setting's ``default:`` line
    rewritten from ``config.SETTINGS`` (whose contract-fed defaults come from
    ``handlers/*/contract.py``); comments and layout are kept. A setting
    whose block has no ``default:`` line is left for a human to add."""
    lines = text.split("\n")
    current: str | None = None
    for i, line in enumerate(lines):
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = line.strip()[:-1]
        elif current in config._BY_KEY and line.startswith("    default: "):
            default = config._BY_KEY[current].default
            written = yaml.safe_load(line.removeprefix("    default: "))
            if default is not None and not isinstance(default, list) and written != default:
                scalar = yaml.safe_dump(default, default_flow_style=True, width=10_000)
                lines[i] = "    default: " + scalar.removesuffix("\n...\n").strip()
    return "\n".join(lines)


def main() -> None:
    root = Path(__file__).resolve().parent
    for path, render in (
        (root / "Pulumi.yaml", pulumi_yaml_with_defaults),
        (root / "README.md", readme_with_reference),
    ):
        path.write_text(render(path.read_text()))
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
