"""kombu's stock filesystem transport against ours (config/filesystem_broker.py), raced.

    .venv/bin/python bench/filesystem_race.py [--messages 4000] [--rounds 3]

A producer sends numbered messages while a consumer process polls every 0.1 ms. The stock
transport creates each message file before writing into it, so the consumer sometimes reads an
empty file (JSONDecodeError; a Celery worker exits on it): kombu issue #1551.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.kombu_race import race_producer_and_consumer  # noqa: E402

TRANSPORTS = {"kombu stock": "filesystem", "ours (atomic)": "config.filesystem_broker:Transport"}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'transport':<15} {'round':>5} {'lost':>6} {'errors':>7}")
    for name, transport in TRANSPORTS.items():
        for round_ in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(dir=ROOT) as folder:
                outcome = race_producer_and_consumer(transport, Path(folder), total=args.messages)
            kinds = sorted(set(outcome.errors))
            print(f"{name:<15} {round_:>5} {outcome.lost:>6} {len(outcome.errors):>7}  {kinds}")


if __name__ == "__main__":
    main()
