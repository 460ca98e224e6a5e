"""The project's docs are complete and stand alone: every setting is on the configuration
page, no file cites a document the repository does not hold, and relative links in the
Markdown pages lead to a file and heading that exist."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

from pydantic_settings import BaseSettings

from highway_triggers.plugin import PluginSettings
from highway_triggers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
FOREIGN = ("CONTRACT", "contract's", "DESIGN §", "../shared", "TESTING.md", "STYLE.md")
"""What citing a document outside the repository looks like."""
NOT_SCANNED = ("tests/fixtures/", "tests/test_docs.py")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def variables(settings: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads (a field's alias names its own,
    such as ``HIGHWAY_SMTP_URL`` among the ``HIGHWAY_APPROVAL_*`` settings)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    return [
        alias.upper()
        if isinstance(alias := field.validation_alias, str)
        else (prefix + name).upper()
        for name, field in settings.model_fields.items()
    ]


def plugin_settings() -> list[type[PluginSettings]]:
    """The settings classes of this repository's plugins."""
    found: list[type[PluginSettings]] = []
    for path in sorted(ROOT.glob("plugins/*/src/**/*.py")):
        if "PluginSettings" not in path.read_text(encoding="utf-8"):
            continue
        module_path = path.relative_to(ROOT).with_suffix("").parts[3:]  # plugins/NAME/src/
        module = importlib.import_module(".".join(p for p in module_path if p != "__init__"))
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, PluginSettings)
            and value.__module__ == module.__name__
        ]
    return found


def undocumented(names: list[str], text: str) -> list[str]:
    """The names that ``text`` does not mention as a whole word."""
    return [name for name in names if not re.search(rf"(?<![\w]){name}(?![\w])", text)]


def test_undocumented_finds_a_missing_name_and_not_a_prefix() -> None:
    text = "`HIGHWAY_ENGINE_URL` and `HIGHWAY_PORT`"
    assert undocumented(["HIGHWAY_ENGINE", "HIGHWAY_ENGINE_URL", "HIGHWAY_PORT"], text) == [
        "HIGHWAY_ENGINE"
    ]


def test_every_setting_is_on_the_configuration_page() -> None:
    plugins = plugin_settings()
    assert plugins, "no plugin settings class found under plugins/*/src"
    text = CONFIGURATION.read_text(encoding="utf-8")
    classes: list[type[BaseSettings]] = [Settings, *plugins]
    for settings in classes:
        missing = undocumented(variables(settings), text)
        assert not missing, f"{settings.__name__}: not in docs/configuration.md: {missing}"


def repository_files() -> list[Path]:
    """Files tracked or about to be (not ignored), that exist."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [
        ROOT / name
        for name in listed.split("\0")
        if name and not name.startswith(NOT_SCANNED) and (ROOT / name).is_file()
    ]


def test_no_file_cites_a_document_outside_the_repository() -> None:
    citing = []
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        text = data.decode("utf-8", errors="replace")
        citing += [f"{path.relative_to(ROOT)}: {word}" for word in FOREIGN if word in text]
    assert not citing


def anchors(markdown: str) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_relative_links_lead_to_a_file_and_heading() -> None:
    pages = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("plugins/*/README.md")]
    broken = []
    for page in pages:
        for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            name, _, anchor = target.partition("#")
            linked = (page.parent / name).resolve() if name else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md":
                if anchor not in anchors(linked.read_text(encoding="utf-8")):
                    broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken
