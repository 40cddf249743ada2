import pytest

from zerosearch_env.errors import MissingDependencyError
from zerosearch_env.import_utils import is_available, require


def test_is_available():
    assert is_available("numpy")
    assert not is_available("no_such_package_zs")


def test_require_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r'pip install "zerosearch-env\[vllm\]"') as info:
        if is_available("vllm"):
            pytest.skip("vllm is installed here")
        require("vllm", "the vLLM simulator backend")
    assert "the vLLM simulator backend" in str(info.value)
    with pytest.raises(MissingDependencyError, match="pip install no_such_package_zs"):
        require("no_such_package_zs", "x")
