"""Extensions a user brings without changing mrft: modules that register task families
(:func:`mrft.envs.register_family`) or algorithms (:func:`mrft.algos.register`).

``MRFT_PLUGINS`` lists them, separated by commas: importable module names
(``my_package.families``) or paths of Python files (``./my_family.py``). Every ``mrft``
command imports them before it reads its arguments, so a registered family or algorithm is
a choice of ``--env``/``--algo``/``--methods`` like a built-in one; a bench suite may also
name files in its ``plugins`` list, relative to the suite file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from mrft.errors import MrftError

ENV_VAR = "MRFT_PLUGINS"
_loaded: set[str] = set()


def load_plugins(specs: str | list[str] | None = None, base: Path | None = None) -> None:
    """Import every plugin in ``specs`` (default: ``$MRFT_PLUGINS``), each once per process."""
    if specs is None:
        specs = os.environ.get(ENV_VAR, "")
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    for spec in specs:
        _load(spec, base)


def _load(spec: str, base: Path | None) -> None:
    is_file = spec.endswith(".py") or os.sep in spec or "/" in spec
    if not is_file:
        if spec not in _loaded:
            try:
                importlib.import_module(spec)
            except Exception as exc:  # a user's module may fail in any way while importing
                raise MrftError(f"cannot import plugin {spec!r} ({type(exc).__name__}: {exc})") from None
            _loaded.add(spec)
        return
    path = Path(spec)
    if base is not None and not path.is_absolute():
        path = base / path
    path = path.resolve()
    if str(path) in _loaded:
        return
    if not path.is_file():
        raise MrftError(f"plugin file {path} does not exist")
    name = f"mrft_plugin_{path.stem}_{abs(hash(str(path))) % 10**8}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # a user's file may fail in any way while importing
        del sys.modules[name]
        raise MrftError(f"cannot load plugin {path} ({type(exc).__name__}: {exc})") from None
    _loaded.add(str(path))
