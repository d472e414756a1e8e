#!/usr/bin/env python3
"""Run a sing-box profile with the PyPI `sing-box-python` build (full build, uTLS included,
so Reality works), the engine of Hiddify, SFA/SFI/SFM and Karing. There is no CLI in the
wheel; this gives it one for the tests:

    sing-box-run.py run -c CONFIG     run until SIGTERM/SIGINT
    sing-box-run.py check -c CONFIG   start it, stop it, report whether it started

The package is looked up in $VPNKEEPER_SINGBOX_PYDIR (default /opt/vpnkeeper/clients/singbox),
installed there with
    pip install --no-deps --target /opt/vpnkeeper/clients/singbox sing-box-python==1.14.3

Exit codes: 0 ok; 23 config rejected (the error on stderr); 2 usage or missing package.
"""

import argparse
import os
import signal
import sys
import threading

DEFAULT_PYDIR = "/opt/vpnkeeper/clients/singbox"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("verb", choices=["run", "check"])
    p.add_argument("-c", "--config", required=True)
    a = p.parse_args()
    sys.path.insert(0, os.environ.get("VPNKEEPER_SINGBOX_PYDIR") or DEFAULT_PYDIR)
    try:
        import singbox  # noqa: E402  (path set just above on purpose)
    except ImportError as e:
        print(f"sing-box-run: sing-box-python not found: {e}", file=sys.stderr)
        sys.exit(2)
    with open(a.config, encoding="utf-8") as f:
        config = f.read()
    box = singbox.SingBox()
    try:
        box.startFromJSON(config)
    except Exception as e:  # the binding raises SingBoxError with sing-box's own message
        print(f"sing-box-run: {e}", file=sys.stderr)
        sys.exit(23)
    if a.verb == "check":
        box.stop()
        print("sing-box-run: configuration started and stopped cleanly")
        return
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    stop.wait()
    box.stop()


if __name__ == "__main__":
    main()
