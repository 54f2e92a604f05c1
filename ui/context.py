"""What every page and every user of one UI server shares, built once (st.cache_resource)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlalchemy.orm import sessionmaker

from app.config import Settings, get_settings
from app.db import open_database
from app.dispatch import Dispatcher


@dataclass(frozen=True)
class Context:
    settings: Settings
    sessions: sessionmaker
    dispatcher: Dispatcher


@st.cache_resource
def context() -> Context:
    """Settings, database sessions and a dispatcher that runs no job in this process."""
    settings = get_settings()
    sessions = open_database(settings)
    return Context(settings, sessions, Dispatcher(settings, sessions, in_child=True))
