"""The environment's files surveyed once: one census, then each comparison against it.

``integrity`` (RECORD, or the locked wheels with ``--wheelhouse``) and ``baseline`` (the
manifest of ``--baseline``) judge the same census (``census.py``): the files are walked once,
each read once (with every algorithm any comparison asks for), each RECORD parsed once.
A census that cannot finish (past its deadline, over its entry limit) is said by both, in
place of a verdict on half of it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Event

from preflight._facts import baseline as baselines
from preflight._facts import integrity
from preflight._facts.census import WORKERS, Deadline, Unfinished
from preflight._facts.model import IntegrityFacts, InterpreterFacts

__all__ = ["survey", "unfinished"]


def unfinished(
    why: str, *, judge_integrity: bool, baseline: tuple[Path, baselines.Manifest] | None
) -> tuple[IntegrityFacts | None, baselines.BaselineFacts | None]:
    """What the survey says when its census could not be finished: ``why``, for each."""
    judged = IntegrityFacts(0, 0, (), (), (), unfinished=why) if judge_integrity else None
    compared = (
        baselines.BaselineFacts(
            str(baseline[0]), baseline[1].created, len(baseline[1].entries), 0, (), 0, 0,
            unfinished=why,
        )
        if baseline is not None
        else None
    )  # fmt: skip
    return judged, compared


def survey(
    facts: InterpreterFacts,
    *,
    stop: Event | None = None,
    judge_integrity: bool = True,
    anchoring: integrity.Anchoring | None = None,
    baseline: tuple[Path, baselines.Manifest] | None = None,
    timeout: float | None = None,
) -> tuple[IntegrityFacts | None, baselines.BaselineFacts | None]:
    """The integrity facts (if ``judge_integrity``) and the baseline comparison (if a
    ``baseline`` is given, already checked to be of this environment), from one census,
    taken within ``timeout`` seconds from now."""
    if not judge_integrity and baseline is None:
        return None, None
    deadline = Deadline(timeout) if timeout is not None else None
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="preflight-census")
    try:
        census = integrity.survey(
            facts,
            pool=pool,
            stop=stop,
            anchoring=anchoring if judge_integrity else None,
            read_all=baseline is not None,
            deadline=deadline,
        )
        judged = (
            integrity.judge(census, facts, anchoring=anchoring, pool=pool)
            if judge_integrity
            else None
        )
        compared = (
            baselines.compare(baseline[1], facts, path=baseline[0], census=census)
            if baseline is not None
            else None
        )
    except Unfinished as exc:
        pool.shutdown(wait=True, cancel_futures=True)  # each read sees the deadline itself
        return unfinished(str(exc), judge_integrity=judge_integrity, baseline=baseline)
    except BaseException:
        if stop is not None:
            stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return judged, compared
