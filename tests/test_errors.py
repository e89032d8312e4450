"""The one error table: every wire error class has its code in BY_CODE, and a code
maps to the same class whatever the process imported."""

from __future__ import annotations

import inspect

from ipfs_kit_py import errors
from ipfs_kit_py.client.http import error_from_kubo
from ipfs_kit_py.client.ws_rpc import raise_error


def test_every_error_class_is_in_the_table_and_the_docstring() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.IPFSKitError) and c is not errors.SignalingError]
    for cls in classes:
        parent = cls.__mro__[1]
        if cls.code == getattr(parent, "code", None):  # refines its parent's status only (BodyTooLarge)
            assert errors.BY_CODE[cls.code] is parent, cls
            continue
        assert errors.BY_CODE[cls.code] is cls, cls
        assert f"{cls.__name__} " in errors.__doc__ and str(cls.status) in errors.__doc__
    assert len({c.code for c in classes}) == len(classes) - 1  # one code, one class (BodyTooLarge: LimitExceeded's)


def test_a_code_means_one_class_even_after_the_server_is_imported() -> None:
    import ipfs_kit_py.app  # noqa: F401 - the server's modules define no error classes of their own

    # before: a walk over __subclasses__() mapped invalid_argument to MalformedMultipart here
    err = error_from_kubo(400, {"Message": "bad", "Code": "invalid_argument", "Type": "error"})
    assert type(err) is errors.InvalidArgument
    try:
        raise_error({"type": "error", "code": "invalid_argument", "message": "bad"})
    except errors.IPFSKitError as e:
        assert type(e) is errors.InvalidArgument
    assert type(errors.error_for("block_not_found", "x")) is errors.BlockNotFound
    assert errors.error_for("something_new", "x").code == "something_new"
