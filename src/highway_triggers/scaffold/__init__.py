"""``highway-triggers new-plugin NAME``: a third-party plugin that installs and loads as is."""

import re
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


class ScaffoldError(Exception):
    """The plugin cannot be created (bad name, folder exists)."""


def scaffold(name: str, target: Path) -> Path:
    """Write the plugin ``name`` (a distribution name, e.g. ``acme-triggers``) into ``target``."""
    if not NAME.match(name):
        raise ScaffoldError(
            "NAME must be lower-case letters, digits and dashes, e.g. acme-triggers"
        )
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty")
    package = name.replace("-", "_")
    words = name.removeprefix("highway-triggers-").split("-")
    values = {
        "name": name,
        "package": package,
        "subtype": "_".join(words).upper(),
        "route": "-".join(words),
        "class_name": "".join(w.capitalize() for w in words) + "Trigger",
    }
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        destination = target / Path(str(relative).replace("PACKAGE", package))
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(Template(source.read_text()).substitute(values))
    return target
