#!/usr/bin/env python3
"""Runs localstripe on one loopback address, with its store in a directory of our choosing.

localstripe's own CLI binds every interface and always pickles its store to the fixed path
/tmp/localstripe.pickle, which the `up` stack and the `test` stack would share. This wrapper points the
store at DATA_DIR/store.pickle (written atomically) and binds only the address it is given.

    localstripe-run.py --host 127.0.0.1 --port 18119 --data-dir .stack/localstripe [--from-scratch]
"""

import argparse
import logging
import os
import pickle

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def use_store_file(path):
    """Replaces the Store's load/dump methods (hard-wired to /tmp) with ones that use `path`."""

    def try_load_from_disk(self):
        try:
            with open(path, "rb") as f:
                old = pickle.load(f)
        except FileNotFoundError:
            return
        self.clear()
        self.update(old)

    def dump_to_disk(self):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    resources.Store.try_load_from_disk = try_load_from_disk
    resources.Store.dump_to_disk = dump_to_disk


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--from-scratch", action="store_true", help="ignore the saved store")
    args = parser.parse_args()

    os.makedirs(args.data_dir, exist_ok=True)
    use_store_file(os.path.join(os.path.abspath(args.data_dir), "store.pickle"))
    if not args.from_scratch:
        resources.store.try_load_from_disk()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(app, host=args.host, port=args.port, access_log=logging.getLogger("aiohttp.access"))


if __name__ == "__main__":
    main()
