"""What the bench scripts share: percentiles, and running a script's measurements once per
run mode, each in a child process with its own runtime folder (and its own redis-server)."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run_child_in_mode(script: str, mode: str, *, env: dict | None = None) -> dict:
    """Run `script --child <this command's arguments>` in `mode` ("embedded" or "redis") and
    return the JSON its last output line holds. Settings are read at import, so each mode
    needs a process of its own. Redis mode gets a redis-server on a free port, stopped after."""
    name = os.path.splitext(os.path.basename(script))[0]
    env = {**os.environ, "APP_RUNTIME_DIR": tempfile.mkdtemp(prefix=f"bench-{name}-{mode}-"), **(env or {})}
    env.pop("REDIS_URL", None)
    redis = None
    if mode == "redis":
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
    try:
        command = [sys.executable, script, "--child", *sys.argv[1:]]
        # stderr goes straight through: a failing child shows its traceback.
        output = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
    return json.loads(output.strip().splitlines()[-1])
