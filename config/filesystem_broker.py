"""kombu's filesystem transport with atomic writes: the embedded mode's broker.

The stock transport (kombu 5.7) opens a message file under its final name and only then
writes into it, so a polling worker can pick up an empty file, fail with JSONDecodeError and
exit with "Unrecoverable error" (https://github.com/celery/kombu/issues/1551). Here every file
is written under a temporary name that no reader looks for, then renamed into place, which is
atomic on POSIX. The exchange tables that broadcast (ping, revoke) relies on get the same
treatment, under a lock file shared by every writer.

Reading claims a message by renaming it into a private folder: only one consumer can win a
rename, and the claimed file is complete because it was complete when it appeared.
"""

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

TEMP_SUFFIX = ".part"


def write_atomically(path: Path, data: bytes) -> None:
    """Make `path` appear with all of `data` or not at all."""
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    with open(temp, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


class Channel(filesystem.Channel):
    @property
    def claimed_folder(self) -> Path:
        folder = Path(self.data_folder_in).parent / "claimed"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @contextmanager
    def exchange_lock(self):
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(self.control_folder / "exchanges.lock", "wb") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield
            finally:
                filesystem.unlock(lock_file)

    def _put(self, queue, payload, **kwargs):
        filename = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / filename
        try:
            write_atomically(path, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            # Temporary files end in TEMP_SUFFIX, so they never match a queue's name.
            if filename.partition(".")[2] != wanted:
                continue
            claimed = self.claimed_folder / filename
            try:
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                payload = claimed.read_bytes()
                claimed.unlink()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {str(claimed)!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()

    def _read_table(self, exchange) -> list:
        try:
            return [
                filesystem.exchange_queue_t(*row) for row in loads(self._exchange_file(exchange).read_bytes())
            ]
        except FileNotFoundError:
            return []

    def get_table(self, exchange):
        try:
            return self._read_table(exchange)
        except OSError as exc:
            raise ChannelError(f"Cannot open {self._exchange_file(exchange)}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self.exchange_lock():
            table = self._read_table(exchange)
            if row not in table:
                table.insert(0, row)
                write_atomically(self._exchange_file(exchange), str_to_bytes(dumps(table)))

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # Skip filesystem.Channel._delete, which rewrites the table in place.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self.exchange_lock():
            table = self._read_table(exchange)
            if row in table:
                table.remove(row)
                if table:
                    write_atomically(self._exchange_file(exchange), str_to_bytes(dumps(table)))
                else:
                    # No binding left: the file goes, as a missing table reads empty. Otherwise
                    # each sandbox run's private exchange stayed in control/ for ever.
                    self._exchange_file(exchange).unlink(missing_ok=True)


class Transport(filesystem.Transport):
    Channel = Channel

    #: Longest a single drain_events() call may block, or None. A Celery worker on a transport
    #: without async I/O runs `synloop`, which drains with timeout=2.0 and only notices a
    #: shutdown between calls; together with the pool's shutdown that exceeded honcho's 5 s
    #: grace before SIGKILL. config/celery.py sets this in worker processes only, because
    #: pidbox replies (ping) are collected until a drain times out and must keep the caller's
    #: timeout.
    drain_timeout_cap: float | None = None

    def drain_events(self, connection, timeout=None):
        if timeout is not None and self.drain_timeout_cap is not None:
            # Never below the polling interval, which would otherwise shrink to the cap.
            timeout = min(timeout, max(self.drain_timeout_cap, self.polling_interval or 0))
        return super().drain_events(connection, timeout=timeout)

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        options = client.transport_options
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
