"""Bench only: counts the SQL statements a web process runs, by the kind of request they serve.

bench/classroom.py starts the web server with this folder on PYTHONPATH and
BENCH_QUERY_COUNT_DIR set; Python imports `sitecustomize` at start, in the server and in each
process uvicorn spawns. Nothing here runs otherwise, and the app's code is unchanged: the
count is taken by a wrapper Django's cursors call for every statement
(`connection.execute_wrappers`, https://docs.djangoproject.com/en/5.2/topics/db/instrumentation/),
and each statement is charged to the request it runs for through a context variable set when
one of config/asgi.py's two Django handlers starts the request. asgiref's sync_to_async copies
context variables into its threads, so a view's statements and an event stream's are charged to
their request; statements of the process's own threads (the lab's observer, dispatcher, senders) are charged
to "background". Every half second each process writes its totals to
$BENCH_QUERY_COUNT_DIR/<pid>.json: {label: [requests, statements]}.

It also times the garbage collector's passes (`gc.callbacks`): a pass holds the interpreter
lock, so every request of the process waits for it. $BENCH_QUERY_COUNT_DIR/<pid>.gc:
{generation: [passes, seconds, longest pass in seconds]}.
"""

import os

if os.environ.get("BENCH_QUERY_COUNT_DIR"):
    import contextvars
    import gc
    import json
    import re
    import threading
    import time

    from django.core.handlers import asgi
    from django.db.backends.signals import connection_created

    FOLDER = os.environ["BENCH_QUERY_COUNT_DIR"]
    request_label = contextvars.ContextVar("bench_request_label", default="background")
    totals: dict[str, list[int]] = {}
    lock = threading.Lock()
    writer_started = False

    def label_for(path: str) -> str:
        if path.endswith("/events"):
            return "stream"
        path = re.sub(r"/\d+(?=/|$)", "/<id>", path)
        path = re.sub(r"^/topics/[^/]+/", "/topics/<slug>/", path)
        return re.sub(r"^/lab/(?!runs/)[^/]+/", "/lab/<experiment>/", path)

    def count(label: str, requests: int, statements: int) -> None:
        with lock:
            figures = totals.setdefault(label, [0, 0])
            figures[0] += requests
            figures[1] += statements

    def counting_wrapper(execute, sql, params, many, context):
        count(request_label.get(), 0, 1)
        return execute(sql, params, many, context)

    collector = {"0": [0, 0.0, 0.0], "1": [0, 0.0, 0.0], "2": [0, 0.0, 0.0]}
    collector_started = [0.0]

    def time_collector(phase: str, info: dict) -> None:
        if phase == "start":
            collector_started[0] = time.perf_counter()
            return
        took = time.perf_counter() - collector_started[0]
        figures = collector[str(info["generation"])]
        figures[0] += 1
        figures[1] += took
        figures[2] = max(figures[2], took)

    gc.callbacks.append(time_collector)

    def write(path: str, text: str) -> None:
        with open(path + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)

    def write_forever() -> None:
        stem = os.path.join(FOLDER, str(os.getpid()))
        while True:
            time.sleep(0.5)
            with lock:
                text = json.dumps(totals)
            write(stem + ".json", text)
            write(stem + ".gc", json.dumps(collector))

    def on_connection(sender, connection, **kwargs):
        global writer_started
        # Once per connection object: a thread that serves many requests (config/asgi.py) keeps
        # its connection object, which Django connects anew for each request.
        if counting_wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(counting_wrapper)
        with lock:
            if writer_started:
                return
            writer_started = True
        threading.Thread(target=write_forever, daemon=True, name="bench-query-count").start()

    connection_created.connect(on_connection, weak=False)

    original_call = asgi.ASGIHandler.__call__

    async def call(self, scope, receive, send):
        label = label_for(scope.get("path", ""))
        count(label, 1, 0)
        token = request_label.set(label)
        try:
            return await original_call(self, scope, receive, send)
        finally:
            request_label.reset(token)

    # __call__, not handle: config/asgi.py's handler for ordinary requests has its own handle.
    asgi.ASGIHandler.__call__ = call
