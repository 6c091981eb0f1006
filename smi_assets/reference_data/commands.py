"""`smi fetch-reference`: download and verify the public reference tables."""

from __future__ import annotations

import argparse

from smi_assets.reference_data.fetch import DEFAULT_BASE_URL, REFERENCE_DIR_ENV, fetch_reference, reference_dir


def run_fetch_reference(args: argparse.Namespace) -> int:
    destination = args.reference_dir or reference_dir(args.data_dir)
    outcome = fetch_reference(destination, base_url=args.base_url, timeout=args.timeout)
    fetched = sum(status != "cached" for status in outcome.values())
    print(f"{len(outcome)} reference files verified in {destination} ({fetched} fetched, {len(outcome) - fetched} already cached)")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    fetch = subparsers.add_parser(
        "fetch-reference",
        help="download the public reference tables at pinned commits and verify their sha256",
        description="SMI outputs, ObsScaling, CPP and Not-Just-Scaling tables from their upstream repositories. "
        f"Files already present with the right hash are not downloaded again. The folder is --reference-dir, else ${REFERENCE_DIR_ENV}, "
        "else <data dir>/reference.",
    )
    fetch.add_argument("--data-dir", default="data", help="data directory (default: data)")
    fetch.add_argument("--reference-dir", help=f"cache folder (default: ${REFERENCE_DIR_ENV}, else <data dir>/reference)")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each download")
    # Tests serve copies from a local HTTP server; users have no reason to change it.
    fetch.add_argument("--base-url", default=DEFAULT_BASE_URL, help=argparse.SUPPRESS)
    fetch.set_defaults(run=run_fetch_reference)
