"""How the terminal shows a streaming answer: reasoning dimmed, SQL, table, analysis, optional trace."""

from __future__ import annotations

from collections.abc import Iterable

import click

from askdb.assistant import Answer, Event


def render_stream(events: Iterable[Event], *, live: bool = True, show_trace: bool = False) -> Answer:
    """Print events as they arrive (when ``live``) and return the final answer."""
    answer: Answer | None = None
    in_reasoning = reasoning_shown = False
    for event in events:
        if event.kind == "answer":
            answer = event.data["answer"]
            continue
        if not live:
            continue
        if event.kind == "reasoning":
            if not in_reasoning:
                click.secho("思考过程:", dim=True, err=True)
                in_reasoning = reasoning_shown = True
            click.secho(event.data["text"], dim=True, nl=False, err=True)
            continue
        if in_reasoning and event.kind != "content":
            click.echo(err=True)
            in_reasoning = False
        _show(event)
    assert answer is not None
    if live:
        _show_end(answer, show_trace, reasoning_shown)
    return answer


def _show(event: Event) -> None:
    if event.kind == "sql":
        source = "(来自已验证示例)" if event.data.get("from_example") else ""
        click.secho(f"\nSQL{source}:", bold=True)
        click.echo(event.data["sql"])
    elif event.kind == "rejected":
        reason = event.data.get("error") or "; ".join(v["message"] for v in event.data.get("violations", []))
        click.secho(f"SQL 未通过,正在修正:{reason}", fg="yellow", err=True)
    elif event.kind == "table":
        click.echo()
        click.echo(event.data["markdown"])
        if event.data["truncated"]:
            click.secho("(结果过多,只显示了一部分)", fg="yellow")
        click.echo()
    elif event.kind == "analysis":
        click.echo(event.data["text"], nl=False)
    elif event.kind == "notice":
        click.secho(f"\n{event.data['text']}", fg="yellow", err=True)


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
