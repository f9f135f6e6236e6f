"""Load a recipe or entry-point script (a file, not a package module) as a module, for tests to call its
`main` or dataclasses directly."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """`recipes/sft.py` as the module `recipes_sft`, loaded once and registered in `sys.modules` (dataclasses
    resolve their string annotations through it)."""
    path = REPO / relative_path
    name = "_".join(path.relative_to(REPO).with_suffix("").parts)
    if str(path.parent) not in sys.path:  # run as a script, it imports its siblings (recipes/stage_runner.py)
        sys.path.append(str(path.parent))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
