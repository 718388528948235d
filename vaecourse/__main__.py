"""Command line: ``python -m vaecourse COMMAND [ARGS]``.

Each command lives in the module of its concept and is loaded only when used:

    info       version, run mode and device
    check      run every derivation check of the lecture (vaecourse.derivations)
    train      train a VAE, write checkpoint, history and figures (vaecourse.train)
    evaluate   test ELBO and importance-weighted log p(x) of a checkpoint (vaecourse.evaluate)

A failure the user can fix (bad argument, missing file) prints one line and exits non-zero.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help). The function takes argv and returns an exit code.
COMMANDS = {
    "info": ("vaecourse.__main__", "info", "version, run mode and device"),
    "check": ("vaecourse.derivations", "cli", "run every derivation check; non-zero exit on failure"),
    "train": ("vaecourse.train", "cli", "train a VAE and write checkpoint, history and figures"),
    "evaluate": ("vaecourse.evaluate", "cli", "test ELBO and IWAE log p(x) of a checkpoint"),
}


def info(argv: list[str]) -> int:
    import vaecourse
    from vaecourse import device, settings

    print(f"vaecourse {vaecourse.__version__}")
    print(f"mode:   {settings.mode()}")
    print(f"device: {device.describe()}")
    print(f"cache:  {settings.cache_dir()}")
    return 0


def usage() -> str:
    lines = ["usage: python -m vaecourse COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vaecourse: unknown command {name!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, function, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:  # a command whose module is not written yet
        print(f"vaecourse: command {name!r} is not available ({error})", file=sys.stderr)
        return 2
    return int(getattr(module, function)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
