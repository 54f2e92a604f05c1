"""The password gate: with DOCFUSE_UI_PASSWORD set, nothing is shown until it is given."""

from __future__ import annotations

import hmac

import streamlit as st

from ui.context import context

SIGNED_IN = "signed-in"


def signed_in() -> bool:
    """True when no password is set or this browser session gave it; else show the form."""
    password = context().settings.ui_password
    if password is None or st.session_state.get(SIGNED_IN):
        return True
    st.title("docfuse")
    with st.form("sign-in"):
        given = st.text_input("Password", type="password", key="sign-in-password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if hmac.compare_digest(given.encode(), password.get_secret_value().encode()):
            st.session_state[SIGNED_IN] = True
            st.rerun()
        st.error("Wrong password.")
    return False
