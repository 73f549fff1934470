"""``etal datasets``: list the embedded datasets with their size, columns and provenance."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "datasets",
        help="list embedded datasets (rows, columns, provenance, licence)",
        description="List the datasets shipped inside etal.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets import dataset_info, list_datasets, load_dataset

    entries = []
    for name in list_datasets():
        info = dataset_info(name)
        frame = load_dataset(name)
        entries.append((info, frame))
    if args.json:
        print(
            json.dumps(
                [
                    {**info.to_dict(), "rows": len(frame), "columns": list(frame.columns)}
                    for info, frame in entries
                ],
                indent=2,
            )
        )
        return 0
    for info, frame in entries:
        print(f"{info.name}: {len(frame):,} rows — {info.description}")
        print(f"  columns:  {', '.join(frame.columns)}")
        print(f"  group:    {info.group}    target: {info.target} (eV/atom)    id: {info.id}")
        print(f"  features: {', '.join(info.features)}")
        print(f"  provenance: {info.provenance}")
        print(f"  licence:  {info.licence}")
        print("  cite:")
        for ref in info.citation:
            print(f"    - {ref}")
    return 0
