"""The commands tools/images/build.sh runs: `key <name>`, `names`, `record <name> ...`, `show`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labimages.archive import uncompressed_size
from labimages.index import LabImage, images_dir, read_index, write_index
from labimages.inputs import input_hash, recipe_names


def _record(args: argparse.Namespace) -> None:
    index = read_index()
    index[args.name] = LabImage(
        name=args.name,
        reference=args.reference,
        archive=args.archive,
        input_hash=args.key,  # computed before the build: a file edited during it makes the entry stale
        size_bytes=uncompressed_size(args.archive),
        build_seconds=round(args.seconds, 1),
        base=args.base,
        python_version=args.python or None,
    )
    write_index(index)


def _fresh(name: str) -> bool:
    """Built from the inputs as they are now, and its archive still there."""
    image = read_index().get(name)
    return image is not None and image.input_hash == input_hash(name) and image.archive.is_file()


def _show() -> None:
    """One line per recipe: its image, size and build time, and whether it is up to date."""
    index = read_index()
    for name in recipe_names():
        image = index.get(name)
        if image is None:
            print(f"{name:10} not built")
            continue
        state = "up to date" if _fresh(name) else "stale: run make images"
        size = f"{image.size_bytes / 1e6:.1f} MB"
        print(f"{name:10} {image.reference:48} {size:>9} {image.build_seconds:6.1f}s  {state}")
    print(f"index: {images_dir() / 'index.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labimages")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("names")
    commands.add_parser("key").add_argument("name")
    commands.add_parser("fresh").add_argument("name")
    commands.add_parser("show")
    record = commands.add_parser("record")
    record.add_argument("name")
    record.add_argument("--reference", required=True)
    record.add_argument("--key", required=True)
    record.add_argument("--archive", required=True, type=Path)
    record.add_argument("--seconds", required=True, type=float)
    record.add_argument("--base", required=True)
    record.add_argument("--python", default="")
    args = parser.parse_args(argv)
    if args.command == "names":
        print("\n".join(recipe_names()))
    elif args.command == "key":
        print(input_hash(args.name))
    elif args.command == "fresh":
        return 0 if _fresh(args.name) else 1
    elif args.command == "record":
        _record(args)
    else:
        _show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
