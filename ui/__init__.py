"""How people reach ragchat: the ``ragchat`` command (``cli``) and the Streamlit page (``app``).

Both are thin: they parse input, call :class:`agent.assistant.Assistant`, and show results.
"""
