"""The conversation: a LangGraph ``StateGraph`` that retrieves, then generates, per thread.

``graph`` wires the nodes, ``nodes`` defines them, ``state`` types what flows between them,
``prompts`` holds the prompt text, ``settings`` every knob, ``assistant`` the one object the
CLI and the web page drive.
"""
