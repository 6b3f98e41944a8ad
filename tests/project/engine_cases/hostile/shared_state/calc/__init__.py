# Finding 5 of issue 10: leave files where a later test (or a later submission) would find
# them: the submission copy, HOME, TMPDIR and the machine's shared temporary folders.
import os

from calc.good import *  # noqa: F401,F403
from calc.good import Counter, SPEED, add, mean, scale  # noqa: F401

NAME = "ag-hostile-left-behind"
_places = [os.getcwd(), os.environ.get("HOME", ""), os.environ.get("TMPDIR", ""),
           "/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
_found, _written = [], []
for _place in _places:
    _path = os.path.join(_place, NAME)
    if os.path.exists(_path):
        _found.append(_path)
    try:
        with open(_path, "w") as _f:
            _f.write("left by an earlier test")
        _written.append(_place)
    except OSError:
        pass
print(("FOUND " + " ".join(_found)) if _found else "nothing left by earlier tests", "| wrote in:", _written)
