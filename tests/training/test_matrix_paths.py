"""The model matrix is the same numbers whichever way it is built: value by value for a few
rows (the service's one-order requests), column by column, or coded by pandas for large
batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.matrix import SMALL_ROWS, VECTORISED_ROWS, FeatureSpec, to_matrix


def _columns(n: int) -> dict[str, list]:
    rng = np.random.default_rng(3)
    numbers = rng.normal(size=n).tolist()
    texts = ["12.5", "x", None, "7"]
    return {
        "order_value": [None if i % 7 == 0 else v for i, v in enumerate(numbers)],
        "n_items": rng.integers(0, 5, size=n).tolist(),
        "is_b2b": [bool(i % 3) for i in range(n)],
        "as_text": [texts[i % 4] for i in range(n)],
        "with_na": [pd.NA if i % 5 == 0 else float(i) for i in range(n)],
        "carrier_id": [("SF", "STO", "YTO", None, "NEW")[i % 5] for i in range(n)],
        "n_code": [(1, 2, 3)[i % 3] for i in range(n)],
    }


SPEC = FeatureSpec(
    names=("order_value", "n_items", "is_b2b", "as_text", "with_na", "carrier_id", "n_code"),
    categories={"carrier_id": ("SF", "STO", "YTO"), "n_code": ("1", "3")},
)


@pytest.mark.parametrize("n", [1, SMALL_ROWS, SMALL_ROWS + 1, VECTORISED_ROWS + 44])
def test_every_path_builds_the_same_matrix(n):
    columns = _columns(VECTORISED_ROWS + 44)
    full = to_matrix({k: v[:n] for k, v in columns.items()}, SPEC)
    by_row = np.vstack(
        [to_matrix({k: v[i : i + 1] for k, v in columns.items()}, SPEC) for i in range(n)]
    )
    np.testing.assert_array_equal(full, by_row)
    assert full.flags.c_contiguous and full.shape == (n, len(SPEC.names))
    whole = to_matrix(columns, SPEC)
    np.testing.assert_array_equal(whole[:n], full)
    assert np.isnan(whole[0, 0]) and np.isnan(whole[1, 3])  # None and "x" are missing
    assert whole[0, 3] == 12.5 and np.isnan(whole[3, 5])  # numeric text; a missing carrier
    assert whole[4, 5] != whole[4, 5] and whole[1, 5] == 1.0  # an unseen level; STO
    # A frame (training, batch scoring) holds typed columns: no free text among the numbers.
    typed = FeatureSpec(tuple(n for n in SPEC.names if n != "as_text"), SPEC.categories)
    frame = pd.DataFrame({k: pd.Series(v[:n], dtype=object) for k, v in columns.items()})
    np.testing.assert_array_equal(to_matrix(frame, typed), np.delete(full, 3, axis=1))
