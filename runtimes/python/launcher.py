#!/usr/bin/env python3
"""rwhisk's Python launcher: the long-lived process of whisk-proxy's actionloop mode.

    launcher.py <code path> <main>

<code path> is a single source file (the proxy wrote /init's code there) or a directory (an
unpacked zip with __main__.py at its root, helper modules beside it, and optionally a
virtualenv/ directory whose site-packages are put on sys.path). <main> names the entry
point (default "main"; a dotted path such as "handlers.hello" is followed).

Protocol (see crates/whisk-proxy/src/executor/actionloop.rs): after loading the code it
writes {"ok":true} on fd 3, or a JSON string "Initialization has failed due to: ..." and
exits. Then, per line on stdin (the /run body as JSON), it sets os.environ["__OW_<KEY>"] for
every key but "value", calls main(value), and writes one line on fd 3:
- the result dict (or list); a returned {"error": ...} is an application error, decided by
  the invoker;
- {"error": str(exception)} for an exception main raised, as OpenWhisk's Python runtime
  answers it: an application error (the traceback goes to stderr);
- a JSON string for a developer error: "The action did not return a dictionary." for a
  result that is no dict or list, "An error has occurred: ..." for one that is no JSON.
stdout and stderr are flushed before the line, so the proxy puts them before the sentinel.
"""

import glob
import importlib.machinery
import importlib.util
import json
import os
import site
import sys
import traceback

ANSWER_FD = 3
NOT_A_DICTIONARY = "The action did not return a dictionary."
MODULE_NAME = "main__"


def write_answer(text):
    """Writes one line of JSON text on fd 3, whole."""
    data = (text + "\n").encode("utf-8")
    while data:
        written = os.write(ANSWER_FD, data)
        data = data[written:]


def developer_error(message):
    return json.dumps(message, ensure_ascii=False)


def flush_logs():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def follow(target, names):
    for name in names:
        if target is None:
            return None
        if isinstance(target, dict):
            target = target.get(name)
        else:
            target = getattr(target, name, None)
    return target


def use_virtualenv(directory):
    """Puts the site-packages of a bundled virtualenv/ on sys.path."""
    venv = os.path.join(directory, "virtualenv")
    if not os.path.isdir(venv):
        return
    pattern = os.path.join(venv, "lib", "python3*", "site-packages")
    for packages in sorted(glob.glob(pattern)):
        site.addsitedir(packages)


def load(code_path, main_name):
    """Loads the action and returns its entry point; raises LoadError for a bad action."""
    code_path = os.path.abspath(code_path)
    if os.path.isdir(code_path):
        directory = code_path
        source = os.path.join(directory, "__main__.py")
        if not os.path.isfile(source):
            raise LoadError("Zipped actions must contain __main__.py at the root.")
        use_virtualenv(directory)
    else:
        directory = os.path.dirname(code_path)
        source = code_path
    os.chdir(directory)
    # Helper modules beside the code are importable, now and when main runs.
    sys.path.insert(0, directory)
    loader = importlib.machinery.SourceFileLoader(MODULE_NAME, source)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, source, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    entry = follow(module, main_name.split("."))
    if not callable(entry):
        raise LoadError("Action entrypoint '%s' is not a function." % main_name)
    return entry


class LoadError(Exception):
    """A bad action (no entry point): reported without a traceback."""


def invoke(main, args):
    """Calls the entry point; returns the answer as JSON text: a result or a developer error."""
    try:
        result = main(args)
    except Exception as error:  # noqa: BLE001 - any exception is the action's error
        # OpenWhisk's Python runtime: the traceback to the logs, str(error) as the result.
        traceback.print_exc()
        result = {"error": str(error)}
    if not isinstance(result, (dict, list)):
        print('Result must be of type dict but has type "%s": %r' % (type(result).__name__, result),
              file=sys.stderr)
        return developer_error(NOT_A_DICTIONARY)
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        traceback.print_exc()
        return developer_error("An error has occurred: %s: %s" % (type(error).__name__, error))


def export_context(request, previous):
    """Sets __OW_<KEY> for the request's keys; removes those of the previous run it lacks."""
    names = []
    for key, value in request.items():
        if key == "value":
            continue
        name = "__OW_" + key.upper()
        text = value if isinstance(value, str) else json.dumps(value)
        if "\0" in name or "=" in name or "\0" in text:
            continue
        os.environ[name] = text
        names.append(name)
    for name in previous:
        if name not in names:
            os.environ.pop(name, None)
    return names


def serve(main):
    exported = []
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            break
        try:
            request = json.loads(line)
        except ValueError as error:
            flush_logs()
            write_answer(developer_error(
                "The action runtime received a request that is not JSON: %s" % error))
            continue
        if not isinstance(request, dict):
            request = {}
        exported = export_context(request, exported)
        outcome = invoke(main, request.get("value", {}))
        flush_logs()
        write_answer(outcome)


def start():
    # Logs reach the container log line by line, not when a buffer fills.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    code_path = sys.argv[1] if len(sys.argv) > 1 else "."
    main_name = (sys.argv[2] if len(sys.argv) > 2 else "") or "main"
    acknowledge = bool(os.environ.pop("__OW_WAIT_FOR_ACK", ""))
    try:
        main = load(code_path, main_name)
    except LoadError as error:
        print("Error during initialization: %s" % error, file=sys.stderr)
        flush_logs()
        write_answer(developer_error("Initialization has failed due to: %s" % error))
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - the action's code failed to load
        traceback.print_exc()
        flush_logs()
        write_answer(developer_error(
            "Initialization has failed due to: %s: %s" % (type(error).__name__, error)))
        sys.exit(1)
    flush_logs()
    if acknowledge:
        write_answer('{"ok":true}')
    serve(main)


if __name__ == "__main__":
    start()
