"""What runs as the sandbox user: copied into the sandbox folder (grader/folder.py), it
imports only itself, ../protocol.py, ../processes.py, ../ipc.py and the layers it applies."""
