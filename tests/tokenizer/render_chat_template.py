#!/usr/bin/python3
"""Reference renderer for chat_template_reference_test: renders chat templates with Python's Jinja2,
configured the way Hugging Face transformers configures it for apply_chat_template.

Usage: render_chat_template.py CASES.json
CASES.json: {"cases": [{"template", "messages", "add_generation_prompt", "bos_token",
                        "eos_token", "tools", "extra_context"}, ...]}
Prints a JSON array, one entry per case: {"ok": true, "output": "..."} or
{"ok": false, "raised": true|false, "error": "..."} (raised: the template called raise_exception).
Exit status 2 when jinja2 is missing.
"""

import json
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as error:  # pragma: no cover
    sys.stderr.write(f"python3-jinja2 is not installed ({error}); install it (apt-get install python3-jinja2)\n")
    sys.exit(2)


class Raised(jinja2.exceptions.TemplateError):
    pass


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides Jinja's tojson: no HTML escaping, non-ASCII kept.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, case):
    template = env.from_string(case["template"])
    context = {
        "messages": case.get("messages", []),
        "tools": case.get("tools"),
        "documents": None,
        "add_generation_prompt": case.get("add_generation_prompt", True),
        "bos_token": case.get("bos_token", ""),
        "eos_token": case.get("eos_token", ""),
    }
    context.update(case.get("extra_context") or {})
    return template.render(**context)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    env = make_environment()
    results = []
    for case in cases:
        try:
            results.append({"ok": True, "output": render(env, case)})
        except Raised as error:
            results.append({"ok": False, "raised": True, "error": str(error)})
        except Exception as error:  # noqa: BLE001 - any failure is a result to compare
            results.append({"ok": False, "raised": False, "error": f"{type(error).__name__}: {error}"})
    sys.stdout.write(json.dumps(results, ensure_ascii=True))


if __name__ == "__main__":
    main()
