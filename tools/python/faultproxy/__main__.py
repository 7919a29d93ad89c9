"""`python -m faultproxy --upstream URL --ca FILE [--listen-port N] [--token-file F --kubeconfig OUT]`:
the proxy by hand, printing each request as it finishes. Faults are scripted from Python only."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from faultproxy.log import RequestRecord
from faultproxy.proxy import FaultProxy


def _print(record: RequestRecord) -> None:
    target = f"{record.path}?{record.query}" if record.query else record.path
    fault = f" fault={record.fault}" if record.fault else ""
    print(f"{record.method} {target} -> {record.status or '-'}{fault} [{record.identity}]", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faultproxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="kube-apiserver URL, e.g. https://127.0.0.1:6443")
    parser.add_argument("--ca", type=Path, help="CA file that signed the apiserver (default: system roots)")
    parser.add_argument("--listen-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--pki-dir", type=Path, help="where to keep the proxy's CA (default: a temp dir)")
    parser.add_argument("--token-file", type=Path, help="a bearer token, to write --kubeconfig with")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the proxy here")
    args = parser.parse_args(argv)
    if (args.token_file is None) != (args.kubeconfig is None):
        parser.error("--token-file and --kubeconfig go together")
    proxy = FaultProxy(args.upstream, args.ca, pki_dir=args.pki_dir, port=args.listen_port, on_request=_print)
    with proxy:
        print(f"listening on {proxy.url}, CA {proxy.ca_path}", flush=True)
        if args.kubeconfig is not None:
            token = args.token_file.read_text().strip()
            print(f"kubeconfig {proxy.kubeconfig(token, args.kubeconfig)}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # so the proxy's temp CA is removed
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
