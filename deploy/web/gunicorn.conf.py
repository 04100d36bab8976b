"""gunicorn settings for the web app's plain HTTP: pages, the JSON search and the REST API.

daphne keeps the websockets (``/ws/``, the live map and the alarm console); the proxy in front sends
``/ws/`` to daphne and everything else here (docs/deploy.md). Django's WSGI handler runs a request
straight through in the worker's thread, where daphne hands every request to a new thread and back
(about three times the CPU per request, bench/api_latency.py). Run from the project directory::

    gunicorn -c deploy/web/gunicorn.conf.py hospital.wsgi:application

Environment: ``WEB_BIND`` (default ``0.0.0.0:8001``), ``WEB_WORKERS`` (processes, default one per core
plus one: the extra one runs while another waits on PostgreSQL), ``WEB_THREADS`` (threads per process,
default 1: on 2 cores a second thread per process cost ~25 % more CPU per request in GIL hand-offs and
halved throughput under 50 connections, bench/api_latency.py; more than 1 switches to gthread workers),
``WEB_WORKER_CLASS`` (default ``sync``).

Why sync workers: each takes the next connection from the one queue the kernel keeps for the
listening socket, so requests are served in arrival order whichever worker is free. gthread workers
keep their keep-alive connections: under 50 busy connections one worker held 40 of them and the other
two 5 each, and the connections of the crowded worker waited several times longer (p95 five times
p50, bench/api_latency.py). Keep-alive towards browsers is the proxy's job (nginx in docs/deploy.md
buffers requests and answers, as sync workers need, and opens one connection per request to us).
"""

import multiprocessing
import os

# Each worker has a fixed set of threads, so persistent database connections stay bounded
# (WEB_WORKERS x WEB_THREADS per web box) and save a connection set-up per request. daphne keeps
# DB_CONN_MAX_AGE=0 (a new thread per request there).
os.environ.setdefault("DB_CONN_MAX_AGE", "60")

bind = os.environ.get("WEB_BIND", "0.0.0.0:8001")
workers = int(os.environ.get("WEB_WORKERS") or multiprocessing.cpu_count() + 1)
threads = int(os.environ.get("WEB_THREADS") or 1)
worker_class = os.environ.get("WEB_WORKER_CLASS") or "sync"
keepalive = 75  # gthread only: seconds, longer than the proxy's idle timeout towards us (the proxy closes first)
timeout = 60
graceful_timeout = 30
max_requests = 20000  # recycle workers now and then (bounds a slow leak), not all at once
max_requests_jitter = 2000
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # "-" for stdout
# gunicorn 24+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for every gunicorn the user
# runs on the box; manage workers with signals instead (HUP reloads, TTIN/TTOU add or remove a worker).
control_socket_disable = True
