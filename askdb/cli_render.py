"""How the terminal shows a streaming answer: reasoning dimmed, SQL, table, analysis, optional trace."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

import click

from askdb.events import (
    AnalysisDelta,
    Answer,
    Clarify,
    ContentDelta,
    Event,
    Finished,
    ForecastReady,
    Notice,
    NoticeReason,
    ReasoningDelta,
    SqlReady,
    SqlRejected,
    TableReady,
)


def render_stream(events: Iterable[Event], *, live: bool = True, show_trace: bool = False) -> Answer:
    """Print events as they arrive (when ``live``) and return the final answer."""
    answer: Answer | None = None
    in_reasoning = reasoning_shown = False
    for event in events:
        if isinstance(event, Finished):
            answer = event.answer
            continue
        if not live:
            continue
        if isinstance(event, ReasoningDelta):
            if not in_reasoning:
                click.secho("思考过程:", dim=True, err=True)
                in_reasoning = reasoning_shown = True
            click.secho(event.text, dim=True, nl=False, err=True)
            continue
        if in_reasoning and not isinstance(event, ContentDelta):
            click.echo(err=True)
            in_reasoning = False
        _show(event)
    assert answer is not None
    if live:
        _show_end(answer, show_trace, reasoning_shown)
    return answer


def _show(event: Event) -> None:
    match event:
        case SqlReady(sql=sql, from_example=from_example):
            click.secho(f"\nSQL{'(来自已验证示例)' if from_example else ''}:", bold=True)
            click.echo(sql)
        case SqlRejected(retrying=retrying):
            # "正在修正" only when the model is asked again; the last refusal ends in the error line
            lead = "SQL 未通过,正在修正" if retrying else "SQL 未通过"
            click.secho(f"{lead}:{event.zh_reason}", fg="yellow", err=True)
        case TableReady(markdown=markdown, truncated=truncated):
            click.echo()
            click.echo(markdown)
            if truncated and not event.limited:  # a row-limit notice follows and says more
                click.secho("(结果过多,只显示了一部分)", fg="yellow")
            click.echo()
        case Clarify(question=question, options=options):
            click.secho(f"\n需要确认:{question}", bold=True)
            for i, option in enumerate(options, 1):
                click.echo(f"  {i}. {option['label']}")
                click.echo(f"     askdb ask {shlex.quote(option['question'])} --no-clarify")
        case ForecastReady(markdown=markdown):
            click.echo(markdown)
            click.echo()
        case AnalysisDelta(text=text):
            click.echo(text, nl=False)
        case Notice(text=text, reason=reason):
            # Where the rows were held back is part of the answer: stdout, right under the table.
            limited = reason is NoticeReason.ROW_LIMIT
            click.secho(f"{text}\n" if limited else f"\n{text}", fg="yellow", err=not limited)


def _show_end(answer: Answer, show_trace: bool, reasoning_shown: bool) -> None:
    # <think> text inside a reply is split out only once the reply is complete: show it now.
    if answer.reasoning and not reasoning_shown:
        click.secho(f"思考过程:\n{answer.reasoning.strip()}", dim=True, err=True)
    if answer.outcome == "declined":
        click.echo(answer.analysis)
    click.echo()
    if show_trace:
        click.secho("\n步骤:", bold=True, err=True)
        for step in answer.trace:
            status = f" ✗ {step.error}" if step.error else ""
            tokens = ""
            if step.tokens and step.tokens.completion_tokens is not None:
                tokens = f"  tokens {step.tokens.prompt_tokens}/{step.tokens.completion_tokens}"
            click.echo(f"  {step.name:<11} {step.elapsed_ms:9.1f} ms{tokens}{status}", err=True)
