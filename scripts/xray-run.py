#!/usr/bin/env python3
"""Give the PyPI `Xray-core` binding the command-line shape of the real `xray`.

The PyPI package embeds a real Xray-core as a CPython extension but ships no
CLI: there is no `xray run -c`, no `-test`, no `version`. vpnkeeper (and its
tests) run Xray as a command line, so this wrapper provides:

    xray-run.py run -c CONFIG          run until SIGTERM/SIGINT
    xray-run.py run -test -c CONFIG    check CONFIG by starting it on spare ports
    xray-run.py version                print the package version

The package is looked up in $VPNKEEPER_XRAY_PYDIR (default
/opt/vpnkeeper/xray-py), installed there with
    pip install --no-deps --target /opt/vpnkeeper/xray-py Xray-core
so it never clashes with PyPI's other top-level `xray` module.

Exit codes: 0 ok; 23 config rejected (what Xray itself uses); 2 usage or
missing package; otherwise whatever Xray exited with.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

DEFAULT_PYDIR = "/opt/vpnkeeper/xray-py"
EXIT_BAD_CONFIG = 23
# How long a test instance gets to open its listeners before we call it stuck.
TEST_TIMEOUT_S = 15.0


def pydir():
    return os.environ.get("VPNKEEPER_XRAY_PYDIR") or DEFAULT_PYDIR


def import_xray():
    d = pydir()
    sys.path.insert(0, d)
    try:
        import xray  # noqa: E402  (path set just above on purpose)
    except ImportError:
        die(2, f"Xray-core Python package not found in {d}; install it with: "
               f"pip install --no-deps --target {d} Xray-core")
    return xray


def die(code, message):
    print(f"xray-run: {message}", file=sys.stderr)
    sys.exit(code)


def read_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        die(2, f"cannot read config {path}: {e.strerror}")


def run(path):
    text = read_config(path)
    xray = import_xray()
    # Blocks until Xray stops; the extension installs its own SIGTERM/SIGINT
    # handling and exits the process itself (code 23 for a bad config).
    xray.startFromJSON(text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def test(path):
    """Start CONFIG with every listening port moved to a spare one and wait for
    the listeners to come up; a bad config makes Xray exit 23 first. Moving the
    ports lets a config be checked while the live instance holds the real ones.
    """
    text = read_config(path)
    try:
        cfg = json.loads(text)
    except ValueError as e:
        die(EXIT_BAD_CONFIG, f"config {path} is not JSON: {e}")
    checks = []
    for inbound in cfg.get("inbounds") or []:
        if isinstance(inbound, dict) and "port" in inbound:
            inbound["port"] = free_port()
            inbound["listen"] = "127.0.0.1"
            checks.append(inbound["port"])
    api = cfg.get("api")
    if isinstance(api, dict) and api.get("listen"):
        api["listen"] = f"127.0.0.1:{free_port()}"
        checks.append(int(api["listen"].rsplit(":", 1)[1]))
    # Logs of the throwaway instance must not land in the live instance's files.
    cfg["log"] = {"loglevel": "warning", "access": "none"}
    import_xray()  # fail early with the install hint, not inside the child
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tmp:
        json.dump(cfg, tmp)
        tmp_path = tmp.name
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "run", "-c", tmp_path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + TEST_TIMEOUT_S
        while time.monotonic() < deadline:
            code = child.poll()
            if code is not None:
                err = child.stderr.read().decode(errors="replace").strip().splitlines()
                detail = f": {err[-1]}" if err else ""
                die(EXIT_BAD_CONFIG if code == EXIT_BAD_CONFIG else code or 1,
                    f"config {path} rejected (xray exited with code {code}){detail}")
            if all(port_open("127.0.0.1", p) for p in checks):
                print("Configuration OK.")
                return
            time.sleep(0.05)
        die(EXIT_BAD_CONFIG, f"config {path}: test instance did not open its ports "
                             f"within {TEST_TIMEOUT_S:.0f}s")
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        os.unlink(tmp_path)


def main():
    p = argparse.ArgumentParser(prog="xray-run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run Xray with a JSON config")
    r.add_argument("-c", "-config", "--config", dest="config", required=True)
    r.add_argument("-test", "--test", dest="test", action="store_true",
                   help="check the config by starting it on spare ports, then exit")
    sub.add_parser("version", help="print the Xray-core package version")
    a = p.parse_args()
    if a.cmd == "version":
        print(f"Xray-core (PyPI) {import_xray().__version__}")
    elif a.test:
        test(a.config)
    else:
        run(a.config)


if __name__ == "__main__":
    main()
