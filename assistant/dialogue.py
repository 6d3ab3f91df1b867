"""One turn's exchange with the provider: the model may call tools (at most
MAX_TOOL_ROUNDS rounds), each call gets an ActionLog row (model, latency, tokens,
outcome, tool names; never the key or the prompt text). The rows are handed back
unsaved: the turn writes them with its next state change, in one transaction."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.providers import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ProviderError,
    ToolSpec,
    chat,
)
from assistant.tools import ToolContext, run_tool
from llm.models import ActionLog
from llm.tool_catalogue import TOOLS

MAX_TOOL_ROUNDS = 5
ACTION = "assistant_reply"


@dataclass
class Exchange:
    """What a turn's exchange cost and did, for the Turn row."""

    text: str = ""
    failure: ProviderError | None = None  # the provider failed (after its own retries)
    provider_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    provider_ms: int = 0
    tool_calls: list[dict] = field(default_factory=list)
    logs: list[ActionLog] = field(default_factory=list)  # unsaved


def tool_specs(names) -> tuple[ToolSpec, ...]:
    return tuple(
        ToolSpec(TOOLS[name].name, TOOLS[name].description, TOOLS[name].parameters)
        for name in names
        if name in TOOLS
    )


def converse(
    *,
    config,
    request: ChatRequest,
    tool_context: ToolContext,
    chat_call: Callable[..., ChatResponse] = chat,
) -> Exchange:
    """Ask the model, run the tools it calls, ask again: the final text, or the failure."""
    exchange = Exchange()
    messages = list(request.messages)
    for round_number in range(MAX_TOOL_ROUNDS + 1):
        last_round = round_number == MAX_TOOL_ROUNDS
        current = ChatRequest(
            model=request.model,
            system=request.system,
            messages=tuple(messages),
            tools=() if last_round else request.tools,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        )
        response = _call(config, current, exchange, chat_call)
        if response is None:
            return exchange
        if not response.tool_calls or last_round:
            exchange.text = response.text.strip()
            return exchange
        messages.append(
            ChatMessage(role="assistant", text=response.text, tool_calls=response.tool_calls)
        )
        for call in response.tool_calls:
            result = run_tool(call.name, call.arguments, tool_context)
            exchange.tool_calls.append(
                {"name": call.name, "arguments": call.arguments, "result_chars": len(result)}
            )
            messages.append(
                ChatMessage(role="tool", text=result, tool_call_id=call.id, tool_name=call.name)
            )
    return exchange  # not reached: the last round always returns


def _call(config, request: ChatRequest, exchange: Exchange, chat_call) -> ChatResponse | None:
    started = time.monotonic()
    response, failure = None, None
    try:
        response = chat_call(config.provider, api_key=config.get_api_key(), request=request)
    except ProviderError as exc:
        failure = exc
    elapsed = int((time.monotonic() - started) * 1000)
    exchange.provider_calls += 1
    exchange.provider_ms += elapsed
    if response is not None:
        exchange.input_tokens += response.input_tokens
        exchange.output_tokens += response.output_tokens
    exchange.logs.append(_log_row(config, request, response, failure, elapsed))
    exchange.failure = failure
    return response


def _log_row(config, request, response, failure, elapsed_ms: int) -> ActionLog:
    """The ActionLog row of a provider call: never the key, never the prompt text."""
    if failure is not None:
        timed_out = failure.kind == "timeout"
        status = ActionLog.Status.TIMEOUT if timed_out else ActionLog.Status.FAILURE
        outcome = {"error": failure.kind, "status_code": failure.status_code}
    else:
        status = ActionLog.Status.SUCCESS
        outcome = {
            "model": response.model,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "tool_calls": [call.name for call in response.tool_calls],
            "attempts": response.attempts,
        }
    return ActionLog(
        user_id=config.user_id,
        config=config,
        action=ACTION,
        provider=config.provider,
        status=status,
        request_summary={
            "model": request.model,
            "messages": len(request.messages),
            "tools": [tool.name for tool in request.tools],
        },
        response_summary=outcome,
        error_message=failure.message[:500] if failure is not None else "",
        execution_time_ms=elapsed_ms,
    )
