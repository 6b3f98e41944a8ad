"""tqdm stand-in: progress bars pass their iterable through and draw nothing."""
import types


class tqdm:
    def __init__(self, iterable=None, *args, total=None, **kwargs):
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __len__(self):
        if self.iterable is not None:
            return len(self.iterable)
        return int(self.total or 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.n += n

    @staticmethod
    def write(s, *args, **kwargs):
        print(s)

    def __getattr__(self, name):  # set_description, set_postfix, close, refresh, ...
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *a, **k: None


def trange(*args, **kwargs):
    return tqdm(range(*args), **kwargs)


def make_module(name):
    module = types.ModuleType(name)
    module.tqdm, module.trange = tqdm, trange
    module.tqdm_notebook, module.tnrange = tqdm, trange
    module.__version__ = "0+stand-in"
    return module
