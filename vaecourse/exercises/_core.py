"""The exercise checks' machinery: cases, observations, known mistakes and the verdict.

A check runs in two halves so that the grader can keep them apart (``vaecourse.exercises.grade``):

- ``observe_call(answer, call)`` calls the student's function (or reads the student's value) as the
  JSON data ``call = exercise.encode_call(case)`` says (the arguments themselves, encoded), and
  records what came back as JSON data: values, shape, dtype, whether a gradient flows, gradients,
  or the student's exception in one line. It is the only half that touches student code, and it
  needs nothing but this module: no reference, no expected value.
- ``judge(cases, observations)`` compares the observations with the package's own route, computed
  afresh from the case, and names the mistake when the answer matches one of the exercise's known
  mistakes (each a wrong route written from the reference, e.g. the KL without its factor 1/2).

In a notebook both halves run in one call, ``check_<exercise>(answer)``, which prints the verdict.
The grader runs ``observe`` in the submission's sandboxed process and ``judge`` in its own.

Importing this module is cheap (no torch): the checks import torch when they run.
"""

from __future__ import annotations

import math
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RTOL = 1e-4  # float32 answers pass: their rounding error is about 1e-7 relative per operation
ATOL = 1e-6


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: passed or not, and one message in the student's terms."""

    label: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{'PASSED' if self.passed else 'NOT YET'} [{self.label}] {self.message}"


def one_line_error(exc: BaseException) -> str:
    """The student's exception in one line: its type, its message's first line, and the line of the
    student's code that raised it (the deepest frame outside this package and torch)."""
    text = str(exc).strip().splitlines()
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if "vaecourse" not in name and "torch" not in name and "site-packages" not in name:
            where = f" (in your line: {frame.line.strip()})" if frame.line else ""
            break
    return f"{type(exc).__name__}: {text[0] if text else ''}{where}"


def _plain(value) -> Any:
    """Tensors, arrays and numbers as nested lists of floats (JSON data)."""
    if hasattr(value, "detach"):
        value = value.detach().double().cpu().tolist()
    elif hasattr(value, "tolist"):
        value = value.tolist()
    return value


def describe(output) -> dict:
    """What the student's code returned, as JSON data: kind, shape, dtype, requires_grad, values."""
    import torch

    if output is None:
        return {"kind": "none"}
    if isinstance(output, torch.Tensor):
        return {
            "kind": "tensor",
            "shape": list(output.shape),
            "dtype": str(output.dtype).replace("torch.", ""),
            "requires_grad": bool(output.requires_grad),
            "values": _plain(output),
        }
    if isinstance(output, bool):
        return {"kind": "other", "type": "bool"}
    if isinstance(output, (int, float)) or type(output).__module__ == "numpy":
        try:
            values = _plain(output)
            shape = list(getattr(output, "shape", ()))
            return {
                "kind": "number" if not shape else "array",
                "shape": shape,
                "values": values,
                "requires_grad": False,
            }
        except (TypeError, ValueError):
            pass
    if isinstance(output, (tuple, list)):
        return {"kind": "sequence", "items": [describe(item) for item in output]}
    if isinstance(output, str):
        return {"kind": "text", "text": output[:200]}
    return {"kind": "other", "type": type(output).__name__}


def flat(values) -> list[float]:
    """Nested lists of numbers as one flat list."""
    if isinstance(values, (list, tuple)):
        return [x for item in values for x in flat(item)]
    return [float(values)]


def close(a, b, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Every number of `a` within rtol * |b| + atol of `b` (same count; NaN never matches)."""
    a, b = flat(a), flat(b)
    return len(a) == len(b) and all(math.isfinite(x) and abs(x - y) <= rtol * abs(y) + atol for x, y in zip(a, b))


def shape_of(values) -> list[int]:
    """The shape of nested lists."""
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return shape


def fmt(values, digits: int = 4) -> str:
    """A few numbers for a message: a scalar as a number, a tensor by its first entries."""
    numbers = flat(values)
    shown = ", ".join(f"{x:.{digits}g}" for x in numbers[:3])
    return shown if len(numbers) == 1 else f"[{shown}{', ...' if len(numbers) > 3 else ''}]"


def encode(value) -> dict:
    """An argument as JSON data that :func:`decode` turns back into the same object: a tensor (exact,
    its dtype kept), an int, a float, or the lecture's MLP VAE (its sizes and weights)."""
    import torch

    if isinstance(value, torch.Tensor):
        return {
            "tensor": value.detach().double().tolist(),
            "shape": list(value.shape),
            "dtype": str(value.dtype).replace("torch.", ""),
        }
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "encoder"):
        raise TypeError(f"cannot encode {type(value).__name__}")
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": value}
    return {
        "vae": {
            "data_dim": value.data_dim,
            "hidden": value.hidden,
            "latent_dim": value.latent_dim,
            "state": {name: encode(t) for name, t in value.state_dict().items()},
        }
    }


def decode(spec: dict):
    """The object :func:`encode` described."""
    import torch

    if "tensor" in spec:
        return (
            torch.tensor(spec["tensor"], dtype=torch.float64).reshape(spec["shape"]).to(getattr(torch, spec["dtype"]))
        )
    if "int" in spec:
        return int(spec["int"])
    if "float" in spec:
        return float(spec["float"])
    from vaecourse import models

    vae = spec["vae"]
    model = models.VAE(data_dim=vae["data_dim"], hidden=vae["hidden"], latent_dim=vae["latent_dim"]).double()
    model.load_state_dict({name: decode(t) for name, t in vae["state"].items()})
    return model


def observe_call(answer, call: dict) -> dict:
    """Call the answer as `call` says (JSON data from :meth:`Exercise.encode_call`) and describe the result.

    ``{"value": true}``: the answer is a value (called if it is a function of nothing). Otherwise
    ``args`` (encoded), ``grad_of`` (the argument whose gradient to record), ``seed`` (torch's seed
    just before the call) and ``project`` (``{"arg", "params": {name: direction}}``: the gradient with
    respect to those parameters of that argument, each as its dot product with the direction).
    """
    import torch

    if call.get("value"):
        return describe(answer() if callable(answer) else answer)
    args = [decode(spec) for spec in call["args"]]
    grad_of = call.get("grad_of")
    if grad_of is not None:
        args[grad_of].requires_grad_(True)
    if call.get("seed") is not None:
        torch.manual_seed(call["seed"])
    output = answer(*args)
    obs = describe(output)
    if obs["kind"] != "tensor" or not output.requires_grad:
        return obs
    if grad_of is not None:
        (grad,) = torch.autograd.grad(output.sum(), args[grad_of], allow_unused=True)
        obs["grad"] = None if grad is None else _plain(grad)
    project = call.get("project")
    if project:
        owner = args[project["arg"]]
        names = list(project["params"])
        grads = torch.autograd.grad(output.sum(), [owner.get_parameter(n) for n in names], allow_unused=True)
        obs["grad"] = [
            None if g is None else float((g.double() * decode(project["params"][n]).double()).sum())
            for g, n in zip(grads, names)
        ]
    return obs


@dataclass
class Mistake:
    """A known wrong route: ``route(*arguments)`` computes what an answer with this mistake returns (or
    ``value`` for a numeric answer), and ``message`` says, in the student's terms, what went wrong."""

    message: str
    route: Callable | None = None
    value: Any = None


@dataclass
class Exercise:
    """One checked exercise: its label in the book, the stub shown in the answer cell, the cases, the
    observation and the judgement. Subclasses: :class:`FunctionExercise`, :class:`ValueExercise`."""

    label: str
    chapter: str
    stub: str

    @property
    def check_name(self) -> str:
        """``check_<label without "ex-", dashes as underscores>``, the call a notebook makes."""
        return "check_" + self.label.removeprefix("ex-").replace("-", "_")

    def cases(self, seed: int) -> list[dict]:
        raise NotImplementedError

    def encode_call(self, case: dict) -> dict:
        """How to call the answer at a case, as JSON data (:func:`observe_call`): all the observing half
        needs, so that the grader's sandbox holds no reference and no expected value."""
        raise NotImplementedError

    def judge(self, cases: list[dict], observations: list[dict]) -> Verdict:
        raise NotImplementedError

    def observe_all(self, answer, cases: list[dict]) -> list[dict]:
        """Observe every case; the student's exceptions are caught and kept, one line each."""
        return observe_calls(answer, [self.encode_call(case) for case in cases])

    def run(self, answer, seed: int | None = None) -> Verdict:
        """Both halves in one process: the cases, the observations, the verdict."""
        if answer is Ellipsis or answer is None:
            return Verdict(self.label, False, "no answer yet: replace the `...` with your answer and run the cell")
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        cases = self.cases(seed)
        try:
            return self.judge(cases, self.observe_all(answer, cases))
        except Exception as exc:  # noqa: BLE001 -- a verdict, never the checker's traceback
            return Verdict(self.label, False, f"could not judge the answer ({one_line_error(exc)})")

    def checker(self) -> Callable:
        """The function a notebook calls: it prints the verdict and returns nothing."""

        def check(answer=None, *, seed: int | None = None) -> None:
            print(self.run(answer, seed))

        check.__name__ = self.check_name
        check.__doc__ = f"Check your answer to exercise {self.label} (book/{self.chapter}.md) and say what is wrong."
        return check


def observe_calls(answer, calls: list[dict]) -> list[dict]:
    """:func:`observe_call` for each call; the student's exceptions are caught and kept, one line each."""
    observations = []
    for call in calls:
        try:
            observations.append(observe_call(answer, call))
        except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
            observations.append({"kind": "error", "error": one_line_error(exc)})
    return observations


def first_problem(observations: list[dict]) -> str | None:
    """A message for an answer that raised, returned nothing, or returned something that is no number."""
    for obs in observations:
        kind = obs.get("kind")
        if kind == "error":
            return f"your code raised {obs['error']}"
        if kind == "none":
            return "your function returned None: is the `return` missing?"
        if kind == "sequence":
            return "your function returned a tuple or list; return one tensor"
        if kind in ("other", "text"):
            return f"your function returned a {obs.get('type', 'string')}, not a number or a tensor"
    return None


@dataclass
class FunctionExercise(Exercise):
    """An exercise whose answer is a function of tensors.

    ``make_cases(rng)`` draws the cases (JSON data: seeds, shapes, dtypes); ``arguments(case)``
    builds the function's arguments from a case; ``reference(*arguments)`` computes the right answer
    by the package's own route; ``mistakes`` the known wrong routes, each ``route(*arguments)``.
    ``grad_of`` names the argument (its position) that must receive a gradient through the answer
    (compared with the reference's gradient), or None; ``shape_hint(got, expected)`` words a wrong
    shape (the wrong axis, the batch reduced) or returns None.
    """

    make_cases: Callable = None
    arguments: Callable = None
    reference: Callable = None
    mistakes: list[Mistake] = field(default_factory=list)
    grad_of: int | None = 0
    shape_hint: Callable | None = None  # (got shape, expected shape) -> message or None

    def cases(self, seed: int) -> list[dict]:
        return self.make_cases(random.Random(seed))

    def encode_call(self, case: dict) -> dict:
        return {"args": [encode(a) for a in self.arguments(case)], "grad_of": self.grad_of}

    def expected(self, case: dict) -> tuple[list, list | None]:
        """The reference's values at a case, and its gradient with respect to argument ``grad_of``."""
        import torch

        args = self.arguments(case)
        if self.grad_of is None:
            return _plain(self.reference(*args)), None
        args[self.grad_of].requires_grad_(True)
        value = self.reference(*args)
        (grad,) = torch.autograd.grad(value.sum(), args[self.grad_of])
        return _plain(value), _plain(grad)

    def _value_problem(self, cases: list[dict], observations: list[dict], wanted: list) -> str | None:
        """What is wrong with the values: a known mistake's message, a shape or a value; None if right."""

        def matches(route) -> bool:
            for case, obs in zip(cases, observations):
                want = _plain(route(*self.arguments(case)))
                if obs["shape"] != shape_of(want) or not close(obs["values"], want):
                    return False
            return True

        right = all(
            obs["shape"] == shape_of(want) and close(obs["values"], want)
            for obs, (want, _) in zip(observations, wanted)
        )
        if right:
            return None
        for mistake in self.mistakes:
            if matches(mistake.route):
                return mistake.message
        for case, obs, (want, _) in zip(cases, observations, wanted):
            got, expected = obs["shape"], shape_of(want)
            if got != expected:
                hint = self.shape_hint(got, expected) if self.shape_hint else None
                return hint or f"your answer has shape {tuple(got)}; expected {tuple(expected)} at {case['describe']}"
            if not close(obs["values"], want):
                return f"at {case['describe']} your answer is {fmt(obs['values'])}, the right value is {fmt(want)}"
        return None

    def _gradient_problem(self, observations: list[dict], wanted: list) -> str | None:
        """What is wrong with the gradient of right values (exercises with ``grad_of``); None if right."""
        if self.grad_of is None:
            return None
        for obs, (_, grad) in zip(observations, wanted):
            if obs["kind"] != "tensor" or not obs.get("requires_grad") or obs.get("grad") is None:
                return (
                    "the values are right, but no gradient flows through your "
                    "answer: drop `.detach()`, `.item()`, `torch.no_grad()` or "
                    "the detour through numpy/math"
                )
            if not close(obs["grad"], grad, rtol=1e-3, atol=1e-6):
                return (
                    "the values are right, but the gradient is not: is part of "
                    "the formula detached or computed from a copy?"
                )
        return None

    def judge(self, cases: list[dict], observations: list[dict]) -> Verdict:
        problem = first_problem(observations)
        if problem:
            return Verdict(self.label, False, problem)
        wanted = [self.expected(case) for case in cases]
        problem = self._value_problem(cases, observations, wanted) or self._gradient_problem(observations, wanted)
        if problem:
            return Verdict(self.label, False, problem)
        return Verdict(self.label, True, f"correct at {len(cases)} inputs of different shapes and dtypes")


@dataclass
class ValueExercise(Exercise):
    """An exercise whose answer is a number (or a few numbers, or one of a few words).

    ``expected`` the right answer (a number, a tuple of numbers, or a word); ``rtol`` its tolerance;
    ``mistakes`` the known wrong answers, each with a message.
    """

    expected: Any = None
    rtol: float = 1e-3
    mistakes: list[Mistake] = field(default_factory=list)
    choices: tuple[str, ...] = ()

    def cases(self, seed: int) -> list[dict]:
        return [{"describe": "your value"}]

    def encode_call(self, case: dict) -> dict:
        return {"value": True}

    def judge(self, cases: list[dict], observations: list[dict]) -> Verdict:
        obs = observations[0]
        if obs.get("kind") == "error":
            return Verdict(self.label, False, f"your code raised {obs['error']}")
        if self.choices:
            word = obs.get("text", "").strip().lower()
            if word not in self.choices:
                return Verdict(self.label, False, f"answer with one of {', '.join(map(repr, self.choices))}")
            ok = word == self.expected
            return Verdict(
                self.label,
                ok,
                "right"
                if ok
                else next(
                    (m.message for m in self.mistakes if m.value == word),
                    "not this one: look again at the solution's argument",
                ),
            )
        if obs.get("kind") == "sequence":
            values = [flat(item.get("values", float("nan"))) for item in obs["items"]]
            values = [x for v in values for x in v]
        elif obs.get("kind") in ("number", "tensor", "array"):
            values = flat(obs["values"])
        else:
            return Verdict(
                self.label,
                False,
                f"give a number{'s' if isinstance(self.expected, tuple) else ''}, "
                f"not {obs.get('type', obs.get('kind'))}",
            )
        expected = list(self.expected) if isinstance(self.expected, tuple) else [self.expected]
        if len(values) != len(expected):
            return Verdict(
                self.label,
                False,
                f"give {len(expected)} number{'s' if len(expected) > 1 else ''} "
                f"({self.stub.split('=')[0].strip()}); you gave {len(values)}",
            )
        if close(values, expected, rtol=self.rtol, atol=1e-9):
            return Verdict(self.label, True, "right")
        for mistake in self.mistakes:
            wrong = list(mistake.value) if isinstance(mistake.value, tuple) else [mistake.value]
            if close(values, wrong, rtol=self.rtol, atol=1e-9):
                return Verdict(self.label, False, mistake.message)
        return Verdict(self.label, False, f"{fmt(values)} is not right (within {self.rtol:.0e} relative)")


DTYPES = ("float64", "float32", "float64")


def tensor_cases(rng: random.Random, shapes: list[tuple], names: str = "inputs") -> list[dict]:
    """One case per shape: a seed for the values, the shape and a dtype (float32 and float64 alternate)."""
    return [
        {
            "seed": rng.randrange(2**31),
            "shape": list(shape),
            "dtype": DTYPES[i % len(DTYPES)],
            "describe": f"{names} of shape {tuple(shape)} ({DTYPES[i % len(DTYPES)]})",
        }
        for i, shape in enumerate(shapes)
    ]


def draw(case: dict, offset: int = 0, shape: tuple | None = None):
    """Standard normal values for a case (its seed plus `offset`), in its dtype and shape."""
    import torch

    generator = torch.Generator().manual_seed(case["seed"] + offset)
    dtype = getattr(torch, case["dtype"])
    return torch.randn(*(shape or case["shape"]), generator=generator, dtype=torch.float64).to(dtype)
