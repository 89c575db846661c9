"""Reporters turn a finished run (a ``RunResult`` or a run directory) into something to read: a rich table
(``table``), PNG figures (``plots``) and markdown. They read results and never run the engine; heavy
libraries (matplotlib) are imported inside the functions that need them."""
