from shapes.core import *  # noqa: F401,F403
