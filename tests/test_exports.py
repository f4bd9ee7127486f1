"""One export list: every public name resolves, every exception the public calls raise is
reachable as ``rp_jupyter.X``, and ``import rp_jupyter`` stays cheap."""

from __future__ import annotations

import inspect
import subprocess
import sys

import rp_jupyter
from rp_jupyter.api import errors


def test_every_name_in_all_resolves():
    for name in rp_jupyter.__all__:
        assert getattr(rp_jupyter, name) is not None, name


def test_dir_lists_exactly_all():
    assert dir(rp_jupyter) == sorted(rp_jupyter.__all__)


def test_each_export_comes_from_the_module_the_list_names():
    for name, module in rp_jupyter._EXPORTS.items():
        assert getattr(rp_jupyter, name) is getattr(sys.modules[module], name), name


def test_every_exception_class_in_api_errors_is_exported():
    defined = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, BaseException)
               and value.__module__ == errors.__name__ and not name.startswith("_")}
    assert defined, "api.errors defines no exception classes"
    assert defined <= set(rp_jupyter.__all__), sorted(defined - set(rp_jupyter.__all__))
    for name in defined:
        assert getattr(rp_jupyter, name) is getattr(errors, name)


def test_errors_raised_by_job_result_are_exported():
    assert rp_jupyter.WaitTimeoutError is errors.WaitTimeoutError
    assert rp_jupyter.JobExpiredError is errors.JobExpiredError


def test_unknown_name_raises_attribute_error():
    try:
        rp_jupyter.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("rp_jupyter.NoSuchThing resolved")


def test_import_reads_the_list_without_importing_the_modules_it_names():
    probe = ("import sys, rp_jupyter\n"
             "print(sorted(m for m in set(rp_jupyter._EXPORTS.values()) if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
