#!/usr/bin/env python3
"""Writes schemas/reference/INDICATORS.md from schemas/reference/indicators.toml (the council
performance indicators' definitions). `--check` exits 1 when the file is stale (tests run it)."""
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "schemas" / "reference" / "indicators.toml"
TARGET = ROOT / "schemas" / "reference" / "INDICATORS.md"

SUPPRESSION = {
    "denominator": "the denominator's count of cases (council × region table, primary + complementary)",
    "split": "counts of people: numerator and denominator − numerator (primary + complementary)",
    "none": "none (not a count of cases)",
}


def render() -> str:
    d = tomllib.loads(SOURCE.read_text())
    out = [
        "# Council performance indicators",
        "",
        f"Generated from `schemas/reference/indicators.toml` (version {d['version']}) by "
        "`python3 infra/tools/indicators_doc.py`; do not edit by hand.",
        "",
        "NOAC-style indicators computed live from the councils' change events, per council, homelessness region "
        "and the country, for a calendar year or quarter: `GET /v1/indicators?year=&quarter=&la_code=` "
        "(open data, small counts suppressed; `services/api/README.md`), definitions at "
        "`GET /v1/indicators/definitions`, dashboard panel \"Council performance indicators\". "
        "Value = scale × Σ numerator / Σ denominator over the area's councils; NULL with no cases. "
        "Bands are the plausibility bands of `../shared/domain.md` §7 (not published figures).",
        "",
        "| Code | Indicator | Unit | Band | Grain | Sources | Suppression |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in d["indicator"]:
        band = f"{i['band'][0]:g}–{i['band'][1]:g}"
        out.append(f"| {i['code']} | {i['title']} | {i['unit']} | {band} | {i['grain']} | "
                   f"{', '.join('`lgma.' + s + '`' for s in i['sources'])} | {i['suppression']} |")
    for i in d["indicator"]:
        out += ["", f"## {i['code']}: {i['title']} ({i['unit']})", "",
                f"- **Numerator**: {i['numerator']}",
                f"- **Denominator**: {i['denominator']}",
                f"- **Value**: {i['scale']:g} × numerator / denominator",
                f"- **Period**: {i['grain']}",
                f"- **Suppression**: {SUPPRESSION[i['suppression']]}",
                f"- **Plausibility band**: {i['band'][0]:g}–{i['band'][1]:g} {i['unit']}"]
        if i.get("params"):
            out.append("- **Parameters**: " + ", ".join(f"`{k}` = {v}" for k, v in i["params"].items()))
        for t in i.get("target", []):
            out.append(f"- **Target**: {t['label']}: {t['value']:g} {i['unit']} ({t['year']})")
        out += ["", "```sql", i["sql"].strip(), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python3 infra/tools/indicators_doc.py", file=sys.stderr)
            sys.exit(1)
    else:
        TARGET.write_text(text)
