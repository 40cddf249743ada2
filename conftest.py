"""Collection rules for the whole checkout: the doctests run over every module of the
packages, and the framework adapters import their framework, so each is collected only
where that framework is installed (CI's verl environment collects both)."""

import importlib.util

collect_ignore = [
    f"zerosearch_env/integrations/{module}.py"
    for module, package in (("verl", "verl"), ("skyrl", "skyrl_gym"), ("trl", "trl"))
    if importlib.util.find_spec(package) is None
]
