"""The config loader never crashes: any text is a valid config or a ConfigError (hypothesis)."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pqlcli.config import loads
from pqlcli.errors import ConfigError

KEYS = ["version", "as_of", "metrics", "fit", "usage", "tiers", "pqls", "accounts", "exclude", "name", "when",
        "points", "metric", "cap", "event", "window", "agg", "decay", "half_life", "fit", "labels", "pql", "x"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["7d", "2026-11-01", "2026-02-30", "x > 1", "*", "count", "-1d", "1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers(0, 3)), inner, max_size=5),
    ),
    max_leaves=25,
)


def _loads_or_config_error(text: str) -> None:
    try:
        loads(text, "fuzz.yaml")
    except ConfigError as err:
        assert err.message.startswith("fuzz.yaml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6), st.booleans())
def test_structured_configs_never_crash(data, with_version):
    if with_version:
        data = {"version": 1, **data}
    _loads_or_config_error(yaml.safe_dump(data, default_flow_style=None))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("version: 1\n-[]{}&*!?|>'\",#%@`abc ")), max_size=80))
def test_arbitrary_text_never_crashes(text):
    _loads_or_config_error(text)


def test_complex_keys_and_tags_are_config_errors():
    for text in ["version: 1\n? [a, b]\n: 1\n", "version: 1\n!!python/object:os.system {}\n", "version: !!binary aGk=\n",
                 "version: 1\nmetrics: {? {a: 1} : 2}\n"]:
        _loads_or_config_error(text)
