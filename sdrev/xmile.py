"""XMILE files (``.xmile``, ``.stmx``): read safely, and made fit for PySD.

XMILE is the OASIS standard in which Stella, Simlin and pysimlin save
models. PySD's XMILE translator reads it into the same abstract model as a
Vensim file, but it reads the XML with entity expansion on and misses parts
of the standard. This module reads the file itself, with a parser that
expands no entity, loads no DTD and reaches no network (an untrusted file
cannot read local files or blow up memory through entities), and rewrites
the tree before PySD sees it where PySD would misread it. It uses lxml only
(PySD is imported by :mod:`sdrev.translate` alone).
"""

from __future__ import annotations

import re
from pathlib import Path

from sdrev.errors import ModelParseError

__all__ = [
    "SUFFIXES",
    "amend",
    "inline_macros",
    "is_xmile",
    "read_root",
    "reader_digest",
    "rewrite_round",
    "time_units",
]

#: File suffixes read as XMILE.
SUFFIXES = (".xmile", ".stmx", ".xml")
_ROUND = re.compile(r"(?<![\w.\"])ROUND\s*\(", re.IGNORECASE)
_INT = re.compile(r"(?<![\w.\"])INT\s*\(", re.IGNORECASE)
_IF = re.compile(r"(?<![\w.\"'$])IF(?![\w$'])", re.IGNORECASE)
#: an equation's tokens for :func:`rewrite_if`: quoted names, words, brackets
#: (subscripts, copied whole), parentheses, commas, anything else
_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][\w$\']*|\[[^\[\]]*\]|[(),]|[^"A-Za-z_\[\](),]+')


def reader_digest() -> str:
    """Hash of this module's source: cached translations of XMILE files
    are keyed by it, so a change to how sdrev reads XMILE rebuilds them."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def is_xmile(path: str | Path) -> bool:
    """Whether ``path`` names an XMILE file (by its suffix)."""
    return Path(path).suffix.lower() in SUFFIXES


def _parser():
    from lxml import etree

    return etree.XMLParser(encoding="utf-8", recover=True,
                           resolve_entities=False, no_network=True,
                           load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True,
                           remove_pis=True)


def read_root(path: str | Path):
    """The root element of an XMILE file, parsed safely and normalised.

    Parameters
    ----------
    path : str or Path
        The ``.xmile``/``.stmx`` file.

    Returns
    -------
    lxml.etree._Element
        The ``<xmile>`` element, in the XMILE namespace.

    Raises
    ------
    ModelParseError
        If the file is not XML with an ``<xmile>`` root.
    """
    from lxml import etree

    path = Path(path)
    try:
        tree = etree.parse(str(path), parser=_parser())
    except (etree.XMLSyntaxError, OSError) as exc:
        raise ModelParseError(f"cannot parse {path.name}: {exc}") from None
    root = tree.getroot()
    if root is None or etree.QName(root).localname != "xmile":
        raise ModelParseError(
            f"cannot parse {path.name}: its root element is not <xmile>")
    if root.nsmap.get(None) is None:
        raise ModelParseError(
            f"cannot parse {path.name}: <xmile> has no XML namespace "
            "(expected http://docs.oasis-open.org/xmile/ns/XMILE/v1.0)")
    _wrap_variables(root)
    _lookup_calls(root)
    _indexed_dimensions(root)
    for node in root.iter("{*}element"):  # "north, young": no space kept
        if node.get("subscript") is not None:
            node.set("subscript", ",".join(
                e.strip() for e in node.get("subscript").split(",")))
    macros = _expression_macros(root)
    dims = _dimensions_of(root)
    names = {_name_key(n.get("name", "")) for n in root.iter(
        "{*}aux", "{*}stock", "{*}flow", "{*}gf")}
    for stock in root.iter("{*}stock"):
        _quote_flow_names(stock)
        _subscript_flows(stock, dims)
    for node in root.iter("{*}eqn", "{*}init_eqn"):
        if node.text and "*" in node.text and dims:
            node.text = _wildcards(node.text, dims)
        if macros and node.text and not _in_macro(node):
            node.text = inline_macros(node.text, macros)
        if node.text and _INT.search(node.text):
            node.text = rewrite_int(node.text)
        if node.text and _ROUND.search(node.text):
            node.text = rewrite_round(node.text)
        if node.text and _IF.search(node.text):
            node.text = rewrite_if(node.text)
        if node.text:
            node.text = _builtins(node.text, names)
    return root


def _indexed_dimensions(root) -> None:
    """An indexed dimension (XMILE 1.0, 3.1.4: ``<dim name="N" size="3"/>``,
    no named elements) given its elements 1..size, as PySD's reader
    expects them named."""
    for dim in root.iter("{*}dim"):
        size = dim.get("size")
        if size is None or len(dim) or not size.strip().isdigit():
            continue
        tag = dim.tag.rsplit("}", 1)[0] + "}elem" if "}" in dim.tag else "elem"
        for index in range(1, int(size) + 1):
            dim.append(dim.makeelement(tag, {"name": str(index)}))


_VARIABLE_TAGS = ("aux", "stock", "flow", "gf", "module", "group")
_PLAIN_NAME = re.compile(r"[^\W\d][\w $']*")


def _local(node) -> str:
    return node.tag.rsplit("}", 1)[-1] if isinstance(node.tag, str) else ""


def _wrap_variables(root) -> None:
    """Variables written straight in ``<model>`` (early Stella files) moved
    into the ``<variables>`` element XMILE 1.0 puts them in."""
    for model in root.iter("{*}model"):
        if model.find("{*}variables") is not None:
            continue
        loose = [c for c in model if _local(c) in _VARIABLE_TAGS]
        if not loose:
            continue
        ns = model.tag[1:].split("}", 1)[0] if model.tag.startswith("{") else ""
        holder = model.makeelement(f"{{{ns}}}variables" if ns else "variables", {})
        model.insert(model.index(loose[0]), holder)
        for child in loose:
            holder.append(child)  # moves it


def _quote_flow_names(stock) -> None:
    """A stock's ``<inflow>``/``<outflow>`` names one flow: names with
    characters of expressions (``/``, ``,``, ``(``...) are quoted, so that
    the name is read as a name."""
    for node in stock:
        if _local(node) not in ("inflow", "outflow"):
            continue
        text = (node.text or "").strip()
        if text and not text.startswith('"') and not _PLAIN_NAME.fullmatch(text):
            node.text = f'"{text}"'


def _lookup_calls(root) -> None:
    """XMILE's ``LOOKUP(table, x)`` written as PySD reads it: ``table(x)``.

    ``table`` is a ``<gf>`` variable, or a variable with a graphical
    function of its own (``<aux><eqn>..</eqn><gf>..</gf></aux>``), whose
    table is then copied into a ``<gf>`` variable ``table lookup``.
    """
    import copy

    tables, embedded = set(), {}
    for variables in root.iter("{*}variables"):
        for node in variables:
            name = _name_key(node.get("name", ""))
            if _local(node) == "gf":
                tables.add(name)
            elif node.find("{*}gf") is not None:
                embedded[name] = node
    if not tables and not embedded:
        return
    call = re.compile(r"(?<![\w.\"])LOOKUP\s*\(", re.IGNORECASE)
    copies = {}
    for node in root.iter("{*}eqn"):
        text = node.text or ""
        out, pos = [], 0
        while (match := call.search(text, pos)) is not None:
            try:
                args, end = _call_args(text, match.end() - 1)
            except ValueError:
                break
            key = _name_key(args[0]) if len(args) == 2 else ""
            if key in embedded and key not in tables:
                source = embedded[key]
                table = copy.deepcopy(source.find("{*}gf"))
                table.set("name", f"{source.get('name')} lookup")
                copies[key] = table
                target = f'"{source.get("name")} lookup"'
            elif key in tables:
                target = args[0].strip()
            else:
                out.append(text[pos:match.end()])
                pos = match.end()
                continue
            out.append(f"{text[pos:match.start()]}{target}({args[1].strip()})")
            pos = end
        out.append(text[pos:])
        node.text = "".join(out)
    for key, table in copies.items():
        source = embedded[key]
        source.getparent().insert(source.getparent().index(source) + 1, table)


def _dimensions_of(root) -> dict[str, list[str]]:
    """Name of each subscripted variable -> its dimensions, in order."""
    out = {}
    for variables in root.iter("{*}variables"):
        for node in variables:
            names = [d.get("name", "") for d in node.findall("{*}dimensions/{*}dim")]
            if names and node.get("name"):
                out[_name_key(node.get("name"))] = names
    return out


_SUBSCRIPTED = re.compile(r'("[^"]*"|[^\W\d][\w$\' ]*?)\s*\[([^\[\]]*)\]')


def _wildcards(text: str, dims: dict[str, list[str]]) -> str:
    """XMILE's ``x[Region, *]`` (every element of a dimension, in an array
    function) written as PySD reads it: ``x[Region, Age!]``."""
    def repl(match):
        name, subs = match.group(1), match.group(2).split(",")
        own = dims.get(_name_key(name))
        if own is None or len(own) != len(subs) or "*" not in match.group(2):
            return match.group(0)
        subs = [f"{own[i]}!" if s.strip() == "*" else s.strip()
                for i, s in enumerate(subs)]
        return f"{name}[{', '.join(subs)}]"

    return _SUBSCRIPTED.sub(repl, text)


def _subscript_flows(stock, dims: dict[str, list[str]]) -> None:
    """A subscripted stock's ``<inflow>``/``<outflow>`` names the flow of
    the same element (XMILE 1.0, 3.7.1): written ``f[Region, Age]`` so that
    the stock's equation says so."""
    own = dims.get(_name_key(stock.get("name", "")))
    if not own:
        return
    for node in stock:
        if not isinstance(node.tag, str) or node.tag.rsplit("}", 1)[-1] not in (
                "inflow", "outflow"):
            continue
        text = (node.text or "").strip()
        flow = dims.get(_name_key(text))
        if flow and "[" not in text and all(d in own for d in flow):
            node.text = f"{text}[{', '.join(flow)}]"


#: XMILE's names of the run specs, as PySD names the control variables.
_RUN_SPECS = {"dt": "TIME_STEP", "starttime": "INITIAL_TIME", "stoptime": "FINAL_TIME"}
_WORD = re.compile(r"(?<![\w.$'])([A-Za-z_]\w*)(?![\w$'])(\s*\()?")
_LOG10 = re.compile(r"(?<![\w.\"])LOG10\s*\(", re.IGNORECASE)


def _builtins(text: str, names: set[str]) -> str:
    """XMILE builtins PySD's reader lacks, in the words it knows: ``DT``,
    ``STARTTIME``, ``STOPTIME`` (unless the model defines such a
    variable), ``PI`` without parentheses, ``LOG10(x)``, ``MOD`` in any
    case. Quoted names are left alone."""
    parts = re.split(r'("[^"]*")', text)
    for k in range(0, len(parts), 2):  # outside quotes

        def word(match):
            name, call = match.group(1), match.group(2)
            key = name.lower()
            if call is None and key in _RUN_SPECS and key not in names:
                return _RUN_SPECS[key]
            if call is None and key == "pi" and key not in names:
                return "PI()"
            if key == "mod" and key not in names:
                return "mod" + (call or "")
            return match.group(0)

        parts[k] = _WORD.sub(word, parts[k])
    text = "".join(parts)
    return _rewrite_calls(text, _LOG10, lambda args, match: (
        f"(LN({args[0].strip()}) / LN(10))" if len(args) == 1 else None))


def _in_macro(node) -> bool:
    from lxml import etree

    return any(etree.QName(a).localname == "macro" for a in node.iterancestors())


def _name_key(name: str) -> str:
    return "_".join(name.replace('"', " ").replace("_", " ").split()).lower()


def _expression_macros(root) -> dict[str, tuple[list[str], list[str | None], str]]:
    """XMILE ``<macro>`` definitions whose body is one expression: name ->
    (parameter names, their defaults, body)."""
    out = {}
    for macro in root.iter("{*}macro"):
        body = macro.find("{*}eqn")
        if body is None or not (body.text or "").strip() \
                or macro.find("{*}variables") is not None:
            continue  # macros with variables of their own are PySD's to refuse
        parms = macro.findall("{*}parm")
        out[_name_key(macro.get("name", ""))] = (
            [_name_key(p.text or "") for p in parms],
            [p.get("default") for p in parms], body.text.strip())
    return out


def _substitute(body: str, names: list[str], values: list[str]) -> str:
    mapping = dict(zip(names, values))
    pattern = re.compile(r'"[^"]*"|[^\W\d][\w$\']*(?:\s+[^\W\d][\w$\']*)*')

    def repl(match):
        text = match.group(0)
        key = _name_key(text)
        return f"({mapping[key]})" if key in mapping else text

    return pattern.sub(repl, body)


def inline_macros(text: str, macros: dict, *, depth: int = 0) -> str:
    """An equation with calls of the file's expression macros written out.

    XMILE macros (``<macro name="F"><parm>x</parm><eqn>x * 2</eqn></macro>``)
    that consist of one expression are expanded in place, each parameter
    replaced by its argument in parentheses (a missing argument by the
    parameter's ``default``); PySD's XMILE reader does not read macros.
    Macros calling macros are expanded to a depth of 16.

    Parameters
    ----------
    text : str
        One ``<eqn>``.
    macros : dict
        From the file's ``<macro>`` elements.

    Returns
    -------
    str
    """
    if depth > 16:
        return text
    names = "|".join(re.escape(n).replace("_", "[ _]+") for n in macros)
    call = re.compile(rf"(?<![\w.\"])({names})\s*\(", re.IGNORECASE)
    def expand(args: list[str], match) -> str | None:
        parms, defaults, body = macros[_name_key(match.group(1))]
        args = [a.strip() for a in args if a.strip()]
        values = args + [d for d in defaults[len(args):]]
        if len(args) > len(parms) or any(v is None for v in values):
            return None
        values = [inline_macros(v, macros, depth=depth + 1) for v in values]
        expanded = inline_macros(_substitute(body, parms, values), macros,
                                 depth=depth + 1)
        return f"({expanded})"

    return _rewrite_calls(text, call, expand)


def time_units(path: str | Path) -> str:
    """The ``time_units`` of the file's ``<sim_specs>`` (``""`` if none)."""
    root = read_root(path)
    for node in root.iter("{*}sim_specs"):
        return node.get("time_units", "").strip()
    return ""


def _sim_spec(root, tag: str) -> float | None:
    for specs in root.iter("{*}sim_specs"):
        for node in specs.iter(f"{{*}}{tag}"):
            try:
                value = float((node.text or "").strip())
            except ValueError:
                return None
            if node.get("reciprocal", "").lower() == "true":
                return 1.0 / value if value else None
            return value
    return None


def amend(abstract, root):
    """PySD's abstract model of an XMILE file, completed from the file.

    PySD saves every ``dt`` whatever ``<sim_specs>`` says; XMILE's
    ``<save_step>`` (the saving interval, Vensim's SAVEPER) is honoured
    here.

    Parameters
    ----------
    abstract : pysd.translators.structures.abstract_model.AbstractModel
    root : lxml.etree._Element
        The file's ``<xmile>`` element (:func:`read_root`).

    Returns
    -------
    AbstractModel
        A copy with the changes (the input is not modified).
    """
    import dataclasses

    save_step = _sim_spec(root, "save_step")
    if save_step is None or not save_step > 0:
        return abstract
    main, *rest = abstract.sections
    elements = []
    for element in main.elements:
        if element.name.upper() == "SAVEPER" and len(element.components) == 1:
            component = dataclasses.replace(element.components[0], ast=save_step)
            element = dataclasses.replace(element, components=[component])
        elements.append(element)
    main = dataclasses.replace(main, elements=elements)
    return dataclasses.replace(abstract, sections=(main, *rest))


def _call_args(text: str, start: int) -> tuple[list[str], int]:
    """Top-level arguments of the call whose ``(`` is at ``start``, and the
    index after its ``)``; quoted names are skipped whole."""
    depth, args, begin, i = 0, [], start + 1, start
    while i < len(text):
        c = text[i]
        if c == '"':
            close = text.find('"', i + 1)
            i = len(text) if close < 0 else close
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                args.append(text[begin:i])
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(text[begin:i])
            begin = i + 1
        i += 1
    raise ValueError("unbalanced parentheses")


def rewrite_int(text: str) -> str:
    """An XMILE equation with ``INT`` as XMILE defines it: the largest
    integer not above its argument (``INT(-2.5) = -3``, as Simlin computes
    it). PySD's XMILE reader takes ``INT`` for Vensim's INTEGER, which
    truncates toward zero; the rewrite keeps truncation for non-negative
    arguments and steps down below zero where the argument is not whole.

    Parameters
    ----------
    text : str
        One ``<eqn>``.

    Returns
    -------
    str
    """
    def spelled_out(args: list[str], match) -> str | None:
        if len(args) != 1 or not args[0].strip():
            return None
        x = rewrite_int(args[0].strip())
        return (f"(IF ({x}) >= 0 THEN INT({x}) ELSE -INT(-({x})) - "
                f"(IF INT(-({x})) = -({x}) THEN 0 ELSE 1))")

    return _rewrite_calls(text, _INT, spelled_out)


def _rewrite_calls(text: str, pattern, body) -> str:
    """``text`` with each call matched by ``pattern`` (outside quoted names)
    replaced by ``body(args, match)``; a call ``body`` declines (``None``) is
    left as it is, and the rest of the text too from a call that does not
    parse."""
    out, pos = [], 0
    while (match := pattern.search(text, pos)) is not None:
        if text.count('"', 0, match.start()) % 2:  # inside a quoted name
            out.append(text[pos:match.end()])
            pos = match.end()
            continue
        try:
            args, end = _call_args(text, match.end() - 1)
        except ValueError:
            break
        replacement = body(args, match)
        if replacement is None:
            out.append(text[pos:match.end()])
            pos = match.end()
            continue
        out.append(text[pos:match.start()] + replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def rewrite_if(text: str) -> str:
    """An XMILE equation with each ``IF c THEN a ELSE b`` parenthesised as
    ``(IF c THEN (a) ELSE (b))``.

    XMILE 1.0 (3.3.5) lets an IF expression stand anywhere an expression
    may, its ELSE branch reaching as far as the expression around it:
    ``IF a THEN 1 ELSE IF b THEN 2 ELSE 3``, ``1 + IF a THEN 1 ELSE 0`` and
    ``IF a THEN IF b THEN 2 ELSE 1 ELSE 0``. PySD's grammar reads an IF
    only where a parenthesised term may stand, so these failed to parse.
    """
    tokens = _TOKEN.findall(text)
    out, end = _if_expression(tokens, 0, frozenset())
    return "".join(out) if end == len(tokens) else text


def _if_expression(tokens: list[str], i: int, stops: frozenset):
    """Tokens from ``i`` up to a stop word, a closing parenthesis or a comma
    (at this depth), with IF expressions parenthesised; and where it ended."""
    out: list[str] = []
    while i < len(tokens):
        token = tokens[i]
        word = token.upper()
        if word in stops or token in (")", ","):
            break
        if word == "IF":
            cond, i = _if_expression(tokens, i + 1, frozenset({"THEN"}))
            if i >= len(tokens) or tokens[i].upper() != "THEN":
                return out + ["IF"] + cond, i
            then, i = _if_expression(tokens, i + 1, frozenset({"ELSE"}))
            if i >= len(tokens) or tokens[i].upper() != "ELSE":
                return out + ["IF"] + cond + ["THEN"] + then, i
            other, i = _if_expression(tokens, i + 1, stops)
            out += ["(IF ", *cond, " THEN (", *then, ") ELSE (", *other, "))"]
            continue
        if token == "(":
            out.append("(")
            i += 1
            while i < len(tokens):
                inner, i = _if_expression(tokens, i, frozenset())
                out += inner
                if i < len(tokens) and tokens[i] == ",":
                    out.append(",")
                    i += 1
                    continue
                break
            if i < len(tokens) and tokens[i] == ")":
                out.append(")")
                i += 1
            continue
        out.append(token)
        i += 1
    return out, i


def rewrite_round(text: str) -> str:
    """An XMILE equation with ``ROUND`` spelled out in standard builtins.

    ``ROUND(x)`` is the nearest integer, halves away from zero
    (``ROUND(2.5) = 3``, ``ROUND(-2.5) = -3``), and ``ROUND(x, n)`` rounds
    to ``n`` decimal places the same way. PySD's XMILE reader knows no
    ``ROUND`` (it would call Python's, which rounds halves to even); the
    rewrite uses ``INT`` only on non-negative arguments, where truncating
    and flooring agree. Text that does not parse as a call is left alone.

    Parameters
    ----------
    text : str
        One ``<eqn>``.

    Returns
    -------
    str
    """
    def spelled_out(args: list[str], match) -> str | None:
        if len(args) not in (1, 2) or not all(a.strip() for a in args):
            return None
        x = rewrite_round(args[0].strip())
        if len(args) == 2:
            scale = f"(10 ^ ({rewrite_round(args[1].strip())}))"
            x = f"({x}) * {scale}"
        body = (f"(IF ({x}) >= 0 THEN INT(({x}) + 0.5) "
                f"ELSE -INT(0.5 - ({x})))")
        return f"({body} / {scale})" if len(args) == 2 else body

    return _rewrite_calls(text, _ROUND, spelled_out)
