"""Fixtures that build the C wire layer once per test session."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from tests.c.cbuild import C_DIR, LIBRARY, STRICT, SUPPORT, compiler, run


@pytest.fixture(scope="session")
def nmp1_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The wire layer and its test support as a shared library, built strict."""
    cc = compiler()
    out: Path = tmp_path_factory.mktemp("nmp1") / "libnmp1.so"
    run([cc, *STRICT, "-O2", "-fPIC", "-shared", "-DNMP1_WITH_JSON", f"-I{C_DIR}",
         *LIBRARY, SUPPORT, "-o", out])  # fmt: skip
    return ctypes.CDLL(str(out))
