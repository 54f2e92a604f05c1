"""The docfuse web UI (Streamlit): `docfuse ui` runs `ui/streamlit_app.py`.

It reads and enqueues through app.services and app.dispatch only: it never imports torch,
Celery or `workers/`, and with no broker its jobs run in a child process, not in the UI.
"""
