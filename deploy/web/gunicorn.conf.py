"""gunicorn settings for the web app's plain HTTP: pages, the JSON search and the REST API.

daphne keeps the websockets (``/ws/``, the live map and the alarm console); the proxy in front sends
``/ws/`` to daphne and everything else here (docs/deploy.md). Django's WSGI handler runs a request
straight through in the worker's thread, where daphne hands every request to a new thread and back
(about three times the CPU per request, bench/api_latency.py). Run from the project directory::

    gunicorn -c deploy/web/gunicorn.conf.py hospital.wsgi:application

Environment: ``WEB_BIND`` (default ``0.0.0.0:8001``), ``WEB_WORKERS`` (processes, default one per core
plus one: the extra one runs while another waits on PostgreSQL), ``WEB_THREADS`` (threads per process,
default 1: on 2 cores a second thread per process cost ~25 % more CPU per request in GIL hand-offs and
halved throughput under 50 connections, bench/api_latency.py).
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
worker_class = os.environ.get("WEB_WORKER_CLASS") or "gthread"  # keep-alive towards clients and proxies, also with one thread
keepalive = 75  # seconds; longer than the proxy's idle timeout towards us, so the proxy closes first
timeout = 60
graceful_timeout = 30
max_requests = 20000  # recycle workers now and then (bounds a slow leak), not all at once
max_requests_jitter = 2000
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # "-" for stdout
# gunicorn 24+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for every gunicorn the user
# runs on the box; manage workers with signals instead (HUP reloads, TTIN/TTOU add or remove a worker).
control_socket_disable = True
