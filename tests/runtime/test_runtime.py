"""What the application needs of its environment, checked inside it before a deploy.

These run with the environment's own pytest and packages (pandas, numpy, fastapi,
sqlalchemy, as the policy requires), not with preflight's.
"""

import math


def test_the_seed_dataframe_baseline_computes() -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).standard_normal((1000, 10)))
    total = frame.sum().sum()
    assert math.isfinite(total)
    assert frame.shape == (1000, 10)


def test_sqlalchemy_round_trip_on_sqlite() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("create table t (x integer)"))
        connection.execute(text("insert into t values (1), (2), (3)"))
        assert connection.execute(text("select sum(x) from t")).scalar_one() == 6


def test_fastapi_app_builds_its_schema() -> None:
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Health(BaseModel):  # annotations evaluated at once (no __future__ import here)
        status: str

    app = FastAPI()

    @app.get("/health")
    def health() -> Health:
        return Health(status="ok")

    assert "/health" in app.openapi()["paths"]
    assert health().status == "ok"
