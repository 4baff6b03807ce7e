"""Checks Prometheus queries (alert rules, dashboard panels) against what services really expose:
a small PromQL scanner (metric names, label matchers, `by`/`without` labels) and a parser of the
Prometheus text exposition format. No Prometheus needed; a typo in a metric or label name, or a
label value a service never produces, fails the check."""
import re

import requests

TOKEN = re.compile(r'''\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<dur>\d+[smhdwy])(?![a-zA-Z_])|(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)|(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>]))''')
KEYWORDS = {"by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
            "bool", "offset"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
# Labels Prometheus adds to every scraped series (targets), and `le` of histogram buckets.
TARGET_LABELS = {"job", "instance"}
SYNTHETIC = {"up": {"job", "instance"}}


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"cannot scan {expr[pos:]!r} in {expr!r}"
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


def scan(expr: str) -> tuple[list[tuple[str, list[tuple[str, str, str]]]], set[str]]:
    """(selectors: [(metric, [(label, op, value)])], grouping labels of by/without/on/ignoring)."""
    t = tokens(expr)
    selectors, grouping, i = [], set(), 0
    while i < len(t):
        kind, text = t[i]
        nxt = t[i + 1][1] if i + 1 < len(t) else None
        if kind == "id" and text in KEYWORDS:
            if text in {"by", "without", "on", "ignoring", "group_left", "group_right"} and nxt == "(":
                j = i + 2
                while t[j][1] != ")":
                    if t[j][0] == "id":
                        grouping.add(t[j][1])
                    j += 1
                i = j
        elif kind == "id" and (nxt == "(" or text in AGGREGATIONS):
            pass  # a function or an aggregation (`sum by (x) (...)`)
        elif kind == "id":
            matchers = []
            if nxt == "{":
                j = i + 2
                while t[j][1] != "}":
                    if t[j][1] == ",":
                        j += 1
                        continue
                    label, op, value = t[j][1], t[j + 1][1], t[j + 2][1]
                    matchers.append((label, op, value[1:-1]))
                    j += 3
                i = j
            selectors.append((text, matchers))
        i += 1
    return selectors, grouping


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def exposition(text: str) -> dict:
    """{family: {"type": t, "help": h, "series": {sample name: {label: {values}}}}}."""
    families: dict = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            families.setdefault(name, {"series": {}})["help"] = help_
        elif line.startswith("# TYPE "):
            name, _, type_ = line[7:].partition(" ")
            families.setdefault(name, {"series": {}})["type"] = type_
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            sample, labels = m.group(1), dict(LABEL.findall(m.group(2) or ""))
            family = sample
            for suffix in ("_bucket", "_sum", "_count"):
                base = sample.removesuffix(suffix)
                if base != sample and families.get(base, {}).get("type") in ("histogram", "summary"):
                    family = base
            f = families.setdefault(family, {"series": {}})
            seen = f["series"].setdefault(sample, {})
            for k, v in labels.items():
                seen.setdefault(k, set()).add(v)
    return families


def scrape(url: str, verify: bool | str = True) -> dict:
    r = requests.get(url, timeout=10, verify=verify)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    return exposition(r.text)


def merged(*scrapes: dict) -> dict:
    """Sample name -> {label: {values}} over every scraped service."""
    out: dict = {}
    for families in scrapes:
        for f in families.values():
            for sample, labels in f["series"].items():
                into = out.setdefault(sample, {})
                for k, vs in labels.items():
                    into.setdefault(k, set()).update(vs)
    return out


def problems(expr: str, samples: dict) -> list[str]:
    """What in `expr` no scraped service exposes (empty when every name, label and value exists)."""
    found = []
    selectors, grouping = scan(expr)
    labels_in_expr = set(TARGET_LABELS)
    for metric, matchers in selectors:
        if metric in SYNTHETIC:
            labels = {k: None for k in SYNTHETIC[metric]}
        elif metric not in samples:
            found.append(f"metric {metric} is not exposed by any service")
            continue
        else:
            labels = samples[metric]
        labels_in_expr.update(labels)
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            if label not in labels:
                found.append(f"{metric} has no label {label}")
            elif op == "=" and labels[label] is not None and value not in labels[label]:
                found.append(f"{metric}{{{label}}} never has the value {value!r} (seen: {sorted(labels[label])[:8]})")
    for label in grouping - labels_in_expr:
        found.append(f"grouping label {label} is on none of the metrics of the expression")
    if not selectors:
        found.append("no metric in the expression")
    return found


def alert_rules(text: str) -> list[dict]:
    """The alerts of a Prometheus rules file as written here (alert, expr incl. `|` blocks,
    for, labels.severity, annotations.summary); a small reader, not a YAML parser."""
    alerts, current, block, block_indent, section = [], None, None, 0, None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if stripped and indent > block_indent:
                current["expr"] += line.strip() + "\n"
                continue
            block = None
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- alert:"):
            current = {"alert": stripped.split(":", 1)[1].strip(), "labels": {}, "annotations": {}}
            alerts.append(current)
            section = None
        elif current is None:
            continue
        elif stripped.startswith("expr:"):
            value = stripped.split(":", 1)[1].strip()
            if value == "|":
                current["expr"], block, block_indent = "", True, indent
            else:
                current["expr"] = value
        elif stripped.startswith("for:"):
            current["for"] = stripped.split(":", 1)[1].strip()
        elif stripped in ("labels:", "annotations:"):
            section = stripped[:-1]
        elif section and ":" in stripped:
            k, v = stripped.split(":", 1)
            current[section][k.strip()] = v.strip()
    return alerts
