"""The browser code of the viewers: ES modules in ``static/``, joined into one module for anywidget.

The viewer's JavaScript is split by concern (``static/viewer/*.js``: state, events, rendering,
tools, overlays, measurements, ...), each file a real ES module that a browser can import as it
is. anywidget, however, runs ``_esm`` as ONE module from a blob URL, where relative imports do not
resolve (JupyterLab, Notebook, Colab alike). :func:`bundle` therefore joins an entry module and
everything it imports, in import order, into one module string: each imported module becomes a
function scope that returns its exports, and ``import { a } from "./x.js"`` becomes
``const { a } = <x's exports>``. Why this way: it needs no npm, no loader at run time and no blob
URLs, and private names of one module cannot collide with another's. The JupyterLab extension is
served the same string (``/radnb/static/viewer.js``), so both run the very same code.

Supported module syntax (anything else raises :class:`ModuleBundleError`): ``import { a, b as c }
from "./rel.js";``, ``import "./rel.js";``, ``export function|class|const NAME``,
``export { a, b };`` and, in the entry module only, ``export default``. Import cycles are refused.

Examples
--------
>>> js = viewer_module()
>>> "// ---- module viewer/tools.js ----" in js and js.rstrip().endswith("export default { render };")
True
>>> js.index("module viewer/util.js") < js.index("module viewer/render.js")  # dependencies first
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import ModuleBundleError

STATIC_DIR = Path(__file__).parent / "static"

_NAME = r"[A-Za-z_$][\w$]*"
_IMPORT = re.compile(r'^import\s*(?:\{(?P<names>[^}]*)\}\s*from\s*)?"(?P<path>\.{1,2}/[^"]+)";?[ \t]*$')
_EXPORT_DECL = re.compile(rf'^export\s+(?P<kind>function\*?|async\s+function\*?|class|const)\s+(?P<name>{_NAME})')
_EXPORT_LIST = re.compile(r'^export\s*\{(?P<names>[^}]*)\};?[ \t]*$')
_EXPORT_DEFAULT = re.compile(r'^export\s+default\b')


@dataclass
class _Module:
    path: Path
    source: str
    imports: List[Tuple[Path, List[Tuple[str, str]]]] = field(default_factory=list)  # (file, [(name, local)])
    exports: List[str] = field(default_factory=list)
    body: str = ""


def _name_pairs(text: str, where: str) -> List[Tuple[str, str]]:
    pairs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = re.fullmatch(rf"({_NAME})(?:\s+as\s+({_NAME}))?", part)
        if not m:
            raise ModuleBundleError(f"{where}: cannot read the name {part!r} in an import/export list.")
        pairs.append((m.group(1), m.group(2) or m.group(1)))
    return pairs


def _parse(path: Path, is_entry: bool) -> _Module:
    where = _relative(path)
    mod = _Module(path, path.read_text(encoding="utf-8"))
    lines = mod.source.split("\n")
    for k, line in enumerate(lines):
        if re.match(r"import\b(?!\s*\()", line):
            m = _IMPORT.match(line)
            if not m:
                raise ModuleBundleError(
                    f"{where}, line {k + 1}: only `import {{ a, b }} from \"./file.js\";` or `import \"./file.js\";` "
                    f"can be joined into one module; got {line.strip()!r}.")
            target = (path.parent / m.group("path")).resolve()
            mod.imports.append((target, _name_pairs(m.group("names") or "", where)))
            lines[k] = ""
        elif re.match(r"export\b", line):
            decl, listed = _EXPORT_DECL.match(line), _EXPORT_LIST.match(line)
            if decl:
                mod.exports.append(decl.group("name"))
                if not is_entry:
                    lines[k] = line[len("export"):].lstrip()
            elif listed and not is_entry:
                pairs = _name_pairs(listed.group("names"), where)
                if any(local != alias for local, alias in pairs):
                    raise ModuleBundleError(f"{where}, line {k + 1}: `export {{ a as b }}` is not supported; rename a.")
                mod.exports += [local for local, _ in pairs]
                lines[k] = ""
            elif listed or (is_entry and _EXPORT_DEFAULT.match(line)):
                mod.exports += [alias for _, alias in _name_pairs(listed.group("names"), where)] if listed else ["default"]
            else:
                raise ModuleBundleError(
                    f"{where}, line {k + 1}: cannot join {line.strip()!r} (use `export function|class|const NAME` "
                    "or `export { a, b };`; `export default` only in the entry module; no `export let`).")
    mod.body = "\n".join(lines).strip("\n")
    return mod


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(STATIC_DIR.resolve()).as_posix()
    except ValueError:
        return str(path)


def _ordered(entry: Path) -> List[_Module]:
    """Every module reachable from ``entry``, each after the modules it imports (entry last)."""
    modules: Dict[Path, _Module] = {}
    order: List[_Module] = []
    visiting: List[Path] = []

    def visit(path: Path) -> None:
        if path in modules:
            return
        if path in visiting:
            cycle = " -> ".join(_relative(p) for p in visiting[visiting.index(path):] + [path])
            raise ModuleBundleError(f"import cycle between the viewer's modules: {cycle}. Move what they share "
                                    "into a module both import.")
        if not path.is_file():
            raise ModuleBundleError(f"{_relative(visiting[-1])} imports {_relative(path)}, which does not exist.")
        visiting.append(path)
        mod = _parse(path, is_entry=path == entry)
        for target, _ in mod.imports:
            visit(target)
        visiting.pop()
        modules[path] = mod
        order.append(mod)

    visit(entry.resolve())
    for mod in order:
        for target, names in mod.imports:
            missing = [name for name, _ in names if name not in modules[target].exports]
            if missing:
                raise ModuleBundleError(f"{_relative(mod.path)} imports {', '.join(missing)} from "
                                        f"{_relative(target)}, which does not export it.")
    return order


def _scope_name(index: int) -> str:
    return f"__radnb_module_{index}"


def bundle(entry: Path) -> str:
    """One ES module made of ``entry`` and every module it imports (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.js").write_text('export const two = 2;\\nconst hidden = 1;\\n')
    >>> _ = (d / "main.js").write_text('import { two } from "./a.js";\\nexport default { four: two * 2 };\\n')
    >>> print(bundle(d / "main.js"))  # doctest: +NORMALIZE_WHITESPACE
    // ---- module a.js ----
    const __radnb_module_0 = (() => {
    const two = 2;
    const hidden = 1;
    return { two };
    })();
    // ---- module main.js ----
    const { two } = __radnb_module_0;
    export default { four: two * 2 };
    """
    order = _ordered(Path(entry))
    scope = {mod.path: _scope_name(k) for k, mod in enumerate(order)}
    base = order[-1].path.parent
    out: List[str] = []
    for mod in order:
        name = mod.path.relative_to(base).as_posix() if mod.path.is_relative_to(base) else _relative(mod.path)
        imports = [f"const {{ {', '.join(n if n == local else f'{n}: {local}' for n, local in names)} }} = {scope[target]};"
                   for target, names in mod.imports if names]
        out.append(f"// ---- module {name} ----")
        if mod is order[-1]:
            out += imports + [mod.body]
        else:
            out.append(f"const {scope[mod.path]} = (() => {{")
            out += imports + [mod.body, f"return {{ {', '.join(mod.exports)} }};", "})();"]
    return "\n".join(out) + "\n"


def _stamp(entry: Path) -> Tuple[Tuple[str, int], ...]:
    return tuple((str(p), p.stat().st_mtime_ns) for p in sorted(entry.parent.rglob("*.js")))


@lru_cache(maxsize=8)
def _cached_bundle(entry: str, stamp: Tuple[Tuple[str, int], ...]) -> str:
    return bundle(Path(entry))


def viewer_module() -> str:
    """The slice viewer's browser code as one ES module (``SliceViewer._esm``, the lab extension's)."""
    entry = STATIC_DIR / "viewer.js"
    return _cached_bundle(str(entry), _stamp(entry))


def gallery_module() -> str:
    """The gallery's browser code as one ES module (``Gallery._esm``)."""
    entry = STATIC_DIR / "gallery.js"
    return _cached_bundle(str(entry), _stamp(entry))


def viewer_css() -> Path:
    """The stylesheet both widgets use."""
    return STATIC_DIR / "viewer.css"
