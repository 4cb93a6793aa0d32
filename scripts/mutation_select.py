"""pytest plugin for mutation runs: build only the test items a mutant's run asks for.

``[tool.mutmut]`` in pyproject.toml loads it (``-p scripts.mutation_select``). mutmut runs each mutant by
calling pytest with the node ids of the suite's tests that executed the mutated function (``-x``, fastest
first). Given ``tests/test_forward.py::test_forward[relu-float32-...]``, pytest would build every one of
the function's parametrized items (12,882 for ``test_forward``) and match each id against all of them:
in a mutant run that costs several seconds, ten times the tests themselves. Here the ids are grouped by
test function and each function's parametrization keeps just the asked-for cases, so the items that run
are exactly the suite's items (same ids, same seeds, same checks), in mutmut's order. Without
parametrized node ids on the command line (the stats run, a normal run) the plugin does nothing.
tests/test_harness.py loads it too, for a subprocess run of two given items."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from _pytest.mark.structures import ParameterSet

_WANTED = pytest.StashKey[dict[str, set[str]]]()  # test function node id -> wanted parameter ids
_ORDER = pytest.StashKey[dict[str, int]]()  # node id as given -> its position on the command line
_ARGS = pytest.StashKey[set[str]]()  # the node ids given without parameters


def pytest_configure(config: pytest.Config) -> None:
    wanted: dict[str, set[str]] = {}
    order: dict[str, int] = {}
    args: list[str] = []
    for arg in config.args:
        base, bracket, param = arg.partition("[")
        if "::" in arg:
            order.setdefault(arg, len(order))
        if "::" in base and bracket and arg.endswith("]"):
            if base not in wanted:
                wanted[base] = set()
                args.append(base)
            wanted[base].add(param[:-1])
        else:
            args.append(arg)
    if not wanted:
        return
    config.args[:] = args
    config.stash[_WANTED] = wanted
    config.stash[_ORDER] = order
    config.stash[_ARGS] = set(args)


def _prune(metafunc: pytest.Metafunc, keep: set[str]) -> None:
    """Let ``metafunc.parametrize`` build only the parameter sets whose id is in ``keep`` (a function with
    one ``parametrize`` mark: its ids are the items' ids); pytest's own id maker names them."""
    parametrize = metafunc.parametrize

    def pruned(argnames: object, argvalues: object, **kwargs: object) -> None:
        nodeid = metafunc.definition.nodeid
        names, sets = ParameterSet._for_parametrize(argnames, argvalues, metafunc.function, metafunc.config, nodeid)
        ids = metafunc._resolve_parameter_set_ids(names, kwargs.get("ids"), sets, nodeid)
        chosen = [i for i, id_ in enumerate(ids) if id_ in keep]
        # Without the mark: pytest keeps the ids it generated on it (``_param_ids_generated``) and reuses
        # them in a later session of the same process (mutmut collects once, then runs), in place of ours.
        kwargs.pop("_param_mark", None)
        parametrize(argnames, [sets[i] for i in chosen], **{**kwargs, "ids": [ids[i] for i in chosen]})

    metafunc.parametrize = pruned  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> Generator[None, None, None]:
    wanted = metafunc.config.stash.get(_WANTED, None)
    nodeid = metafunc.definition.nodeid
    if wanted is None or (nodeid not in wanted and nodeid in metafunc.config.stash[_ARGS]):
        return (yield)
    keep = wanted.get(nodeid, set())
    if len(list(metafunc.definition.iter_markers("parametrize"))) == 1:
        _prune(metafunc, keep)
    result = yield
    # Functions parametrized more than once are pruned here, after pytest has built their items' ids.
    # (A function none of whose items is asked for ends with no parameters: pytest then makes one
    # plain item, which the command line does not select.)
    metafunc._calls = [call for call in metafunc._calls if call.id in keep]
    missing = keep - {call.id for call in metafunc._calls}
    if missing:
        raise pytest.UsageError(f"mutation_select: {nodeid} has no items {sorted(missing)[:3]} ...")
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = config.stash.get(_ORDER, None)
    if order is not None:
        items.sort(key=lambda item: order.get(item.nodeid, len(order)))
