"""A test project served by a real ASGI server (uvicorn), for tests/test_asgi_server.py.

The server process runs ``tests.asgi_server.asgi:application`` with the settings of
``tests.asgi_server.settings``: the test suite's settings, with this app installed (its
``handlers`` module is autodiscovered at start-up), its URLs, and the mode from
``DJANGO_EVENTS_ASGI_MODE``. Every handler appends one line per event it handles to the
file named by ``DJANGO_EVENTS_ASGI_LOG``.
"""
