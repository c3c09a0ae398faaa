"""The web page of the runs (`serve`) and the HTML export (`show --html`): the top layer,
beside the command line. It reads the run log and tmux, and drives nothing (see serve.py)."""
