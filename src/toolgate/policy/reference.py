"""The policy language's key reference: every key of both dialects, documented once, as data.

`SECTIONS` holds, for each place a key can appear (the top level, a tool entry, a rule, a
condition, a counter, ...), the validator's own tuple of accepted keys (`accepted`, imported from
the module that checks that mapping) and the documentation of each key: type, default, allowed
values, what it does and a complete policy that uses it. Keys that several mappings share (`scope`,
`key`, `algorithm`) are documented once, in their own section, which the others name in `shared`.
`coverage_problems()` compares the two, so a key added to a validator without documentation (or
documented but not accepted) is reported; `render_reference()` writes docs/policy-reference.md,
which `docs/gen_reference.py` regenerates. Pure data and text: nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolgate.policy import intercept, intercept_approvals, policylayer, policylayer_rules
from toolgate.policy.classify import CATEGORIES
from toolgate.policy.condition_groups import GROUP_KEYS
from toolgate.policy.counter_scope import SCOPES
from toolgate.policy.counter_specs import RATE_KEYS, SCOPE_KEYS
from toolgate.policy.expr_item import EXPR_KEY
from toolgate.policy.intercept_conditions import CONDITION_KEYS
from toolgate.policy.intercept_rules import (
    ACTIONS,
    DEFAULT_APPROVAL_TIMEOUT_SECONDS,
    RULE_KEYS,
    STATE_KEYS,
)
from toolgate.policy.intercept_rules import MODES as RULE_MODES
from toolgate.policy.operators import OP_NAMES
from toolgate.policy.spend_rules import SPEND_KEYS
from toolgate.policy.surfaces import ACCESS_KEYS, SURFACE_KEYS
from toolgate.policy.windows import ALGORITHMS, NAMED

A, B, BOTH = "Dialect A", "Dialect B", "both dialects"
WINDOW_VALUES = f"{', '.join(NAMED)}, or a duration (`90s`, `15m`, `1h30m`, `2d`; 1s to 366d)"


def _one_of(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{value}`" for value in values)


@dataclass(frozen=True, slots=True)
class Key:
    """One key of one mapping: what it takes and does, and a complete policy that uses it."""

    name: str
    type: str
    default: str  # "required", "—" (absent means nothing), or the default value
    allowed: str
    doc: str
    example: str  # a complete policy (YAML, or JSON in a Dialect B section)


@dataclass(frozen=True, slots=True)
class Section:
    """The keys one mapping of the language accepts, as its validator lists them."""

    id: str
    title: str
    dialect: str
    intro: str
    accepted: tuple[str, ...]  # the validator's own key list
    keys: tuple[Key, ...]
    shared: tuple[str, ...] = ()  # ids of sections whose keys this mapping also accepts
    example: str = ""  # for a mapping without fixed keys (classify)

    @property
    def syntax(self) -> str:
        return "json" if self.dialect == B else "yaml"

    def own(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)


# --- Dialect A: the top level -------------------------------------------------------------------

_A_TOP = Section(
    "a-top",
    "Top level",
    A,
    "The keys of a Dialect A (Intercept YAML) file. The dialect is recognised by `rules` under a "
    "tool (a file whose tools are all empty reads as Dialect A too).",
    intercept.TOP_KEYS,
    (
        Key(
            "version", "string", "required", '`"1"` (an unquoted `1` is accepted)',
            "The format version.",
            'version: "1"\ntools: {}\n',
        ),
        Key(
            "description", "string", "—", "any text",
            "Free text for people reading the file; it plays no part in decisions.",
            'version: "1"\ndescription: "Spot desk agent on the Binance MCP server"\ntools: {}\n',
        ),
        Key(
            "default", "string", "`allow`", "`allow`, `deny`",
            "What happens to a call to a tool that no entry of `tools` matches. `deny` makes "
            "`tools` an allow-list (a tool matched by a glob entry counts as listed; `\"*\"` "
            "lists nothing).",
            'version: "1"\ndefault: deny\ntools:\n  BinanceTickerPrice:\n',
        ),
        Key(
            "mode", "string", "`enforce`", _one_of(intercept.MODES),
            "`shadow` tries the policy without enforcing it: every rule, `hide` and default deny "
            "decide and are logged (`would`), and the call is forwarded anyway. A rule's own "
            "`mode` overrides it.",
            'version: "1"\nmode: shadow\ndefault: deny\ntools:\n  BinanceTickerPrice:\n',
        ),
        Key(
            "pin", "string", "`off`", _one_of(intercept.PIN_MODES),
            "Tool-definition pinning (rug-pull protection). `warn` logs a tool that is new or "
            "changed since it was accepted; `enforce` also hides it and denies calls to it until "
            "`toolgate pin accept`. The first complete listing is pinned as seen.",
            'version: "1"\npin: enforce\ntools: {}\n',
        ),
        Key(
            "hide", "list of tool names", "`[]`", 'exact tool names; `"*"` hides every tool',
            "Tools removed from `tools/list`; a call to one is answered as if the server had no "
            "such tool. Globs are not expanded here.",
            'version: "1"\nhide: [BinanceWalletWithdraw]\ntools: {}\n',
        ),
        Key(
            "approvals", "mapping", "—", "see [approvals](#a-approvals)",
            "How approval requests are answered (inline, queue or hold), announced (a signed "
            "webhook) and de-duplicated. See docs/approvals.md.",
            'version: "1"\napprovals:\n  dedupe_window: 10m\ntools: {}\n',
        ),
        Key(
            "classify", "mapping", "—", "see [classify](#a-classify)",
            "Tool name or glob → category, read by the `tool.category` and `tool.risk` paths.",
            'version: "1"\nclassify:\n  BinanceWalletWithdraw: financial\ntools: {}\n',
        ),
        Key(
            "tools", "mapping", "required",
            'tool name, glob (`Binance*Order*`) or `"*"` → [tool entry](#a-tool)',
            "The tools the policy governs. For a call, every matching entry applies: the exact "
            'name first, then glob entries in file order, then `"*"`.',
            'version: "1"\ntools:\n  BinanceTickerPrice:\n  "BinanceWallet*":\n    rules:\n'
            "      - {name: wallet calls, rate_limit: 10/minute}\n",
        ),
        Key(
            "resources", "mapping", "—", "see [resources and prompts](#surface)",
            "Allow, deny or hide resources by URI glob (`resources/list`, `resources/read`, "
            "`resources/templates/list`).",
            'version: "1"\nresources: {hide: ["internal://*"]}\ntools: {}\n',
        ),
        Key(
            "prompts", "mapping", "—", "see [resources and prompts](#surface)",
            "Allow, deny or hide prompts by name glob (`prompts/list`, `prompts/get`).",
            'version: "1"\nprompts: {default: deny, allow: ["summarise_*"]}\ntools: {}\n',
        ),
    ),
)  # fmt: skip

_A_TOOL = Section(
    "a-tool",
    "Tool entry (`tools.<name>`)",
    A,
    "The value under a tool name. It may also be left empty (`BinanceTickerPrice:`), which lists "
    "the tool with no rules.",
    intercept.TOOL_ENTRY_KEYS,
    (
        Key(
            "rules", "list of [rules](#a-rule)", "`[]`", "rules",
            "Evaluated in order; the first rule that denies decides. Counters of the rules that "
            "passed are then reserved together, atomically.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n'
            "      - {name: orders, rate_limit: 10/minute}\n",
        ),
    ),
)  # fmt: skip

_TIMEOUT = f"{int(DEFAULT_APPROVAL_TIMEOUT_SECONDS // 60)}m"

_A_RULE = Section(
    "a-rule",
    "Rule (`tools.<name>.rules[]`)",
    A,
    "One rule. Three forms: a full rule (`name`, `action`, `conditions`, and optionally "
    "`state` or `spend`), the `rate_limit` shorthand (which takes no `conditions`, `state` or "
    "`spend`), and `action: deny` (no conditions).",
    RULE_KEYS,
    (
        Key(
            "name", "string", "required (optional with `rate_limit`)", "non-empty text",
            "Names the rule in messages and the audit log (the rule id is its path, "
            "`tools.<name>.rules[N]`).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: buy side only\n'
            "        conditions: [{path: args.side, op: eq, value: BUY}]\n",
        ),
        Key(
            "action", "string", "`evaluate`", _one_of(ACTIONS),
            "`evaluate`: every condition must hold, else deny. `deny`: always deny (no "
            "conditions). `require_approval`: when every condition holds a human must approve "
            "the call before it is forwarded, once (see `approval_mode` and docs/approvals.md).",
            'version: "1"\ntools:\n  BinanceWalletWithdraw:\n    rules:\n'
            "      - {name: never, action: deny}\n",
        ),
        Key(
            "conditions", "list of [conditions](#condition)", "`[]`",
            "`{path, op, value}`, `{expr}`, `{any}`, `{all}`, `{not}`",
            "All must hold (logical and). An `evaluate` rule needs at least one (or a `spend`); "
            "a `deny` rule may have none. A missing argument makes a condition false.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: small orders\n'
            "        conditions:\n          - {path: args.quantity, op: lte, value: 0.5}\n",
        ),
        Key(
            "on_deny", "string", "an engine message", "any text",
            "The message the agent sees when this rule denies (after `[POLICY DENIED]`).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: usdt pairs\n'
            "        conditions: [{path: args.symbol, op: ends_with, value: USDT}]\n"
            '        on_deny: "Only USDT pairs may be traded"\n',
        ),
        Key(
            "rate_limit", "string or mapping", "—",
            '`"N/<window>"` or a [rate_limit object](#a-rate)',
            "At most N calls per window: the rule declares the counter `_rate_<window>` "
            "(readable as `state.<tool>._rate_minute`) and admits a call while it is below N "
            "before the call. The string form is global and fixed-window.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - rate_limit: 10/minute\n',
        ),
        Key(
            "state", "mapping", "—", "a [state block](#a-state)",
            "Declares a counter this rule charges on every allowed call. Its limit is the first "
            "`lt`/`lte` condition of the rule on its own path (`state.<tool>.<counter>`), checked "
            "after adding this call's amount, so a cap is never overshot. Only with "
            "`action: evaluate`; not with `spend`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: orders per day\n'
            "        conditions: [{path: state.BinanceNewOrder.orders, op: lte, value: 200}]\n"
            "        state: {counter: orders, window: day}\n",
        ),
        Key(
            "spend", "mapping", "—", "a [spend block](#a-spend)",
            "A spend cap in exact decimals: an amount per call (a path or a product of paths), "
            "capped per call and per hour or day. Only with `action: evaluate`; not with `state`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: notional\n'
            "        spend: {amount: args.quantity * args.price, daily: 50000}\n",
        ),
        Key(
            "approval_timeout", "duration", f"`{_TIMEOUT}`", "`90s`, `30m`, `1h30m`, …",
            "How long an approval request waits. Valid only with `action: require_approval`.",
            'version: "1"\ntools:\n  BinanceWalletWithdraw:\n    rules:\n      - name: large\n'
            "        action: require_approval\n"
            "        conditions: [{path: args.amount, op: gt, value: 1000}]\n"
            "        approval_timeout: 30m\n",
        ),
        Key(
            "approval_mode", "string", "`approvals.mode` (`inline`)", "`inline`, `queue`, `hold`",
            "How this rule's approvals are asked for: `inline` (the client asks its user: "
            "elicitation, or `input_required` for 2026-07-28 clients; a client that can do neither "
            "falls back to `queue`), `queue` (answered `[APPROVAL REQUIRED]`; a person approves "
            "with `toolgate approvals`, the API or the page; the retry goes through once) or "
            "`hold` (the call waits up to `approvals.wait` for a person). Valid only with "
            "`action: require_approval`.",
            'version: "1"\ntools:\n  BinanceWalletWithdraw:\n    rules:\n'
            "      - name: ops approve\n        action: require_approval\n"
            "        approval_mode: queue\n",
        ),
        Key(
            "mode", "string", "the top-level `mode`", _one_of(RULE_MODES),
            "`shadow` makes this one rule report (`would_deny`) instead of blocking; "
            "`enforce` keeps a rule enforced under a top-level `mode: shadow`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: trial cap\n'
            "        mode: shadow\n"
            "        conditions: [{path: args.quantity, op: lte, value: 1}]\n",
        ),
    ),
)  # fmt: skip

# --- Conditions (both dialects) -----------------------------------------------------------------

_CONDITION = Section(
    "condition",
    "Condition (an item of `conditions`)",
    BOTH,
    "An item of a rule's `conditions` (Dialect A) or of a `require` / `deny_if` entry's "
    "`conditions` (Dialect B). It is one of four shapes: `{path, op, value}`, `{expr}`, or a "
    "one-key group `{any: [...]}`, `{all: [...]}`, `{not: {...}}`; groups nest.",
    (*CONDITION_KEYS, EXPR_KEY, *GROUP_KEYS),
    (
        Key(
            "path", "string", "required", "a [path](#paths)",
            "What the condition reads: `args.<name>` (nested `.`, `[N]`, `[*]`), "
            "`state.<tool>.<counter>`, `identity.name`, `tool.category`, `tool.risk`, "
            "`time.hour`, `time.minute`, `time.weekday`. A missing value makes every operator "
            "but `exists` false.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: desk only\n'
            "        conditions: [{path: identity.name, op: eq, value: desk}]\n",
        ),
        Key(
            "op", "string", "required", "an [operator](#operators)",
            "How the value at `path` is compared with `value`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: known pairs\n'
            "        conditions: [{path: args.symbol, op: in, value: [BTCUSDT, ETHUSDT]}]\n",
        ),
        Key(
            "value", "any JSON value", "required", "what the operator takes",
            "The operand. The ordering operators take a number (the argument may be a number or a "
            "numeric string) and compare exact decimals; equality is typed (`\"5\"` is not `5`).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: size\n'
            '        conditions: [{path: args.quantity, op: lte, value: 0.25}]\n',
        ),
        Key(
            EXPR_KEY, "string", "—", "a CEL expression (at most 2,000 characters)",
            "Holds when the CEL expression returns `true`; any other result or an evaluation "
            "error fails closed. Sees `args`, `identity`, `tool`, `time` and declared counters "
            "as `state.<owner>.<counter>`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: notional\n'
            "        conditions:\n"
            "          - expr: 'double(args.quantity) * double(args.price) <= 50000.0'\n",
        ),
        Key(
            "any", "list of conditions", "—", "at least one condition",
            "Holds when at least one member holds.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: side\n'
            "        conditions:\n          - any:\n"
            "              - {path: args.side, op: eq, value: SELL}\n"
            "              - {path: identity.name, op: eq, value: desk-lead}\n",
        ),
        Key(
            "all", "list of conditions", "—", "at least one condition",
            "Holds when every member holds (useful inside `any` or `not`).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: small market\n'
            "        conditions:\n          - any:\n"
            "              - {path: args.type, op: eq, value: LIMIT}\n"
            "              - all:\n"
            "                  - {path: args.type, op: eq, value: MARKET}\n"
            "                  - {path: args.quantity, op: lte, value: 0.01}\n",
        ),
        Key(
            "not", "one condition (a mapping)", "—", "one condition",
            "Holds when its member does not. Over a `[*]` path it means \"no element\".",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: no stop orders\n'
            "        conditions:\n"
            "          - not: {path: args.type, op: starts_with, value: STOP}\n",
        ),
    ),
)  # fmt: skip

# --- Counters ---------------------------------------------------------------------------------

_SCOPING = Section(
    "scoping",
    "Counter scoping (in a `state` block, a `rate_limit` object and `spend`)",
    A,
    "Who shares a counter and how its window slides. These keys mean the same in the three "
    "mappings that declare counters.",
    SCOPE_KEYS,
    (
        Key(
            "scope", "string", "`global`", _one_of(SCOPES),
            "`identity`: one counter per caller identity (`toolgate run --identity`); "
            "`session`: one per client connection. A call without an identity (or session) is "
            "refused, never counted globally.",
            'version: "1"\ntools:\n  BinancePutUserDataStream:\n    rules:\n'
            "      - rate_limit: {max: 30, window: minute, scope: identity}\n",
        ),
        Key(
            "key", "argument path", "—", "one `args.` value (no `[*]`)",
            "One counter per distinct value of that argument (combined with `scope`: per "
            "identity and value). A missing, null, list or mapping value refuses the call; "
            '`1`, `1.0` and `"1.00"` share a counter.',
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n'
            "      - rate_limit: {max: 5, window: minute, key: args.symbol}\n",
        ),
        Key(
            "algorithm", "string", "`fixed`", _one_of(ALGORITHMS),
            "`fixed`: calendar-aligned UTC windows (a minute, hour, day; a week from Monday). "
            "`sliding`: the last window's length at every instant.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n'
            "      - rate_limit: {max: 100, window: hour, algorithm: sliding}\n",
        ),
    ),
)  # fmt: skip

_A_RATE = Section(
    "a-rate",
    "`rate_limit` object (`rules[].rate_limit: {…}`)",
    A,
    "The object form of `rate_limit`: the string `10/minute` is `{max: 10, window: minute}`.",
    RATE_KEYS,
    (
        Key(
            "max", "integer", "required", "a whole number > 0",
            "Calls admitted per window: a call passes while the counter, before it, is below "
            "`max`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n'
            "      - rate_limit: {max: 10, window: minute}\n",
        ),
        Key(
            "window", "string", "required", WINDOW_VALUES,
            "The counting window; the counter is `_rate_<window>`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n'
            "      - rate_limit: {max: 3, window: 90s}\n",
        ),
    ),
    shared=("scoping",),
)  # fmt: skip

_A_STATE = Section(
    "a-state",
    "`state` block (`rules[].state`)",
    A,
    "A named counter the rule charges on every allowed call.",
    STATE_KEYS,
    (
        Key(
            "counter", "string", "required", "a name",
            "The counter's name, read as `state.<tool>.<counter>` (`state._global.<counter>` "
            'under `"*"`, `state.<glob>.<counter>` under a glob entry).',
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: orders\n'
            "        conditions: [{path: state.BinanceNewOrder.orders, op: lt, value: 100}]\n"
            "        state: {counter: orders, window: day}\n",
        ),
        Key(
            "window", "string", "required", WINDOW_VALUES,
            "The window after which the counter starts again from 0.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: orders\n'
            "        conditions: [{path: state.BinanceNewOrder.weekly, op: lte, value: 500}]\n"
            "        state: {counter: weekly, window: week}\n",
        ),
        Key(
            "increment", "number", "`1`", "> 0",
            "A fixed amount added per allowed call. Not with `increment_from`.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: weight\n'
            "        conditions: [{path: state.BinanceNewOrder.weight, op: lte, value: 1200}]\n"
            "        state: {counter: weight, window: minute, increment: 4}\n",
        ),
        Key(
            "increment_from", "argument path", "—", "one `args.` value (no `[*]`)",
            "Adds the call's own argument value (exact decimal, ≥ 0; otherwise the call is "
            "refused). Not with `increment`.",
            'version: "1"\ntools:\n  BinanceWalletWithdraw:\n    rules:\n      - name: daily\n'
            "        conditions: [{path: state.BinanceWalletWithdraw.total, op: lte, value: 2}]\n"
            "        state: {counter: total, window: day, increment_from: args.amount}\n",
        ),
    ),
    shared=("scoping",),
)  # fmt: skip

_A_SPEND = Section(
    "a-spend",
    "`spend` block (`rules[].spend`)",
    A,
    "A spend cap computed in exact decimals. At least one of `per_call`, `hourly`, `daily` is "
    "required. The hourly and daily counters are `_spend_hour` and `_spend_day` of the tool.",
    SPEND_KEYS,
    (
        Key(
            "amount", "string", "required", "`args.x` or `args.x * args.y * …`",
            "The call's amount. Every factor must be a number or numeric string, finite and "
            "≥ 0; otherwise the call is refused (a market order without `price` is refused).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: notional\n'
            "        spend: {amount: args.quantity * args.price, per_call: 1000}\n",
        ),
        Key(
            "per_call", "number or numeric string", "—", "≥ 0",
            "Refuses a call whose amount is above it.",
            'version: "1"\ntools:\n  BinanceWalletWithdraw:\n    rules:\n      - name: one\n'
            '        spend: {amount: args.amount, per_call: "0.5"}\n',
        ),
        Key(
            "hourly", "number or numeric string", "—", "≥ 0",
            "Caps the total per hour; a call that would pass it is refused whole.",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: hourly\n'
            "        spend: {amount: args.quantity * args.price, hourly: 10000}\n",
        ),
        Key(
            "daily", "number or numeric string", "—", "≥ 0",
            "Caps the total per day (UTC, or the last 24 hours with `algorithm: sliding`).",
            'version: "1"\ntools:\n  BinanceNewOrder:\n    rules:\n      - name: daily\n'
            "        spend: {amount: args.quantity * args.price, daily: 50000, key: args.symbol}\n",
        ),
    ),
    shared=("scoping",),
)  # fmt: skip

# --- Dialect A: approvals and classify ----------------------------------------------------------

_A_APPROVALS = Section(
    "a-approvals",
    "`approvals` block",
    A,
    "How require_approval rules ask for a human's decision, and who is told.",
    intercept_approvals.APPROVALS_KEYS,
    (
        Key(
            "notify", "mapping", "—", "`{webhook: {url}}`",
            "Where approval requests are announced.",
            'version: "1"\napprovals:\n  notify: {webhook: {url: "https://ops.example.com/tg"}}\n'
            "tools: {}\n",
        ),
        Key(
            "dedupe_window", "duration", "the approval's lifetime", "`90s`, `10m`, `1h`, …",
            "Identical pending requests within it share one approval (and one notice); an "
            "older identical request that is still pending is not joined.",
            'version: "1"\napprovals: {dedupe_window: 10m}\ntools: {}\n',
        ),
        Key(
            "mode", "string", "`inline`", "`inline`, `queue`, `hold`",
            "The default `approval_mode` of every require_approval rule.",
            'version: "1"\napprovals: {mode: queue}\ntools: {}\n',
        ),
        Key(
            "wait", "duration", "`5m`", "more than `0s`, at most `24h`",
            "How long a held call (`hold`) waits for a person before it is denied (the approval "
            "itself stays open until its `approval_timeout`).",
            'version: "1"\napprovals: {mode: hold, wait: 2m}\ntools: {}\n',
        ),
        Key(
            "review_url", "string", "—", "an `http://` or `https://` address",
            "The approvals page (e.g. `https://gw.example.com/approvals`), linked from webhook "
            "notices.",
            'version: "1"\napprovals: {review_url: "https://gw.example.com/approvals"}\n'
            "tools: {}\n",
        ),
    ),
)  # fmt: skip

_A_NOTIFY = Section(
    "a-notify",
    "`approvals.notify`",
    A,
    "The channels approval requests go to.",
    intercept_approvals.NOTIFY_KEYS,
    (
        Key(
            "webhook", "mapping", "required", "`{url}`",
            "A signed POST per approval request and resolution (the signing secret is not part "
            "of the policy).",
            'version: "1"\napprovals:\n  notify:\n    webhook: {url: "https://ops.example.com/tg"}\n'
            "tools: {}\n",
        ),
    ),
)  # fmt: skip

_A_WEBHOOK = Section(
    "a-webhook",
    "`approvals.notify.webhook`",
    A,
    "The webhook's address, body format and signing secret.",
    intercept_approvals.WEBHOOK_KEYS,
    (
        Key(
            "url", "string", "required", "an `http://` or `https://` address",
            "The address notified of approval requests and resolutions (HMAC-SHA256 signed: "
            "`X-Toolgate-Signature: sha256=<hex>` over `<timestamp>.<body>`).",
            'version: "1"\napprovals:\n  notify:\n    webhook:\n'
            '      url: "https://ops.example.com/toolgate/approvals"\ntools: {}\n',
        ),
        Key(
            "format", "string", "`json`", "`json`, `slack`",
            "`slack`: a Slack-compatible message body, with links to `review_url`.",
            'version: "1"\napprovals:\n  notify:\n    webhook:\n'
            '      url: "https://hooks.slack.com/services/T/B/X"\n      format: slack\n'
            "tools: {}\n",
        ),
        Key(
            "secret_env", "string", "`TOOLGATE_WEBHOOK_SECRET`", "an environment variable name",
            "The variable holding the signing secret; the gateway refuses to start without it.",
            'version: "1"\napprovals:\n  notify:\n    webhook:\n'
            '      url: "https://ops.example.com/tg"\n      secret_env: OPS_HOOK_SECRET\n'
            "tools: {}\n",
        ),
    ),
)  # fmt: skip

_A_CLASSIFY = Section(
    "a-classify",
    "`classify` map",
    A,
    "Keys are tool names or globs, values a category: "
    f"{_one_of(CATEGORIES)}. An exact name wins, then the first matching glob in file order. "
    "`tool.category` reads the category; `tool.risk` derives from it (read/other `low`, write "
    "`medium`, execute `high`, destructive/financial `critical`). The map is an override: a "
    "tool it does not name takes the class toolgate's classifier gives the definition the "
    "server listed in this session's `tools/list` (see docs/classification.md). A tool neither "
    "classifies (one never listed in this session) has no category and no risk (the condition "
    "is false).",
    (),
    (),
    example='version: "1"\nclassify:\n  "BinanceWallet*Withdraw": financial\n'
    '  "BinanceGet*": read\ntools:\n  "*":\n    rules:\n      - name: no critical tools\n'
    "        conditions: [{path: tool.risk, op: neq, value: critical}]\n",
)

# --- Both dialects: resources and prompts -------------------------------------------------------

_SURFACE = Section(
    "surface",
    "`resources` and `prompts`",
    BOTH,
    "Police the other two MCP surfaces by glob over the resource URI (or URI template) and the "
    "prompt name. When several entries match, the most restrictive wins (`hide`, then `deny`, "
    "then `allow`); when none does, `default`.",
    SURFACE_KEYS,
    (
        Key(
            "default", "string", "`allow`", _one_of(ACCESS_KEYS),
            "What happens to a resource or prompt that no entry matches.",
            'version: "1"\nprompts: {default: deny, allow: [review]}\ntools: {}\n',
        ),
        Key(
            "allow", "list of globs", "`[]`", "globs (`*` any run, `?` one character)",
            "Allowed; matters only under a `deny` or `hide` default.",
            'version: "1"\nresources: {default: deny, allow: ["file:///project/*"]}\ntools: {}\n',
        ),
        Key(
            "deny", "list of globs", "`[]`", "globs",
            "Listed, but a read or get is refused (`-32003`, `[POLICY DENIED]`).",
            'version: "1"\nresources: {deny: ["file:///etc/*"]}\ntools: {}\n',
        ),
        Key(
            "hide", "list of globs", "`[]`", "globs",
            "Dropped from lists; a read or get answers as if it did not exist.",
            'version: "1"\nprompts: {hide: ["admin_*"]}\ntools: {}\n',
        ),
    ),
)  # fmt: skip

# --- Dialect B ----------------------------------------------------------------------------------

_B_LIMIT = '{"counter": "calls", "window": "minute", "max": 120}'
_B_TOP = Section(
    "b-top",
    "Top level",
    B,
    "The keys of a Dialect B (PolicyLayer JSON) file, read from `.json`, `.yaml` or `.yml`. "
    "The dialect is recognised by `all_tools` at the top, or `require` / `deny_if` / `limits` "
    "under a tool.",
    policylayer.TOP_KEYS,
    (
        Key(
            "version", "string", "required", '`"1"`',
            "The format version.",
            '{"version": "1", "default": "allow", "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
        Key(
            "description", "string", "—", "any text",
            "Free text; it plays no part in decisions.",
            '{"version": "1", "default": "allow", "description": "Binance desk",\n'
            ' "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
        Key(
            "default", "string", "required", "`allow`, `deny`",
            "Required in this dialect. Under `deny`, a tool not under `tools` is refused (a "
            "tool listed as `{}` is allowed; `all_tools` lists nothing).",
            '{"version": "1", "default": "deny",\n'
            ' "tools": {"BinanceTickerPrice": {}, "BinanceNewOrder": {"limits": [' + _B_LIMIT
            + "]}}}\n",
        ),
        Key(
            "hide", "list of tool names", "`[]`", 'exact names; `"*"` hides every tool',
            "Removed from `tools/list`; a call answers like an unknown tool.",
            '{"version": "1", "default": "allow", "hide": ["BinanceWalletWithdraw"],\n'
            ' "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
        Key(
            "all_tools", "mapping", "—", "see [all_tools](#b-all-tools)",
            "Limits every call counts towards, whatever the tool.",
            '{"version": "1", "default": "allow", "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
        Key(
            "tools", "mapping", "`{}`", 'tool name or glob (not `"*"`) → [tool entry](#b-tool)',
            "The tools the policy governs, with their `require`, `deny_if` and `limits`.",
            '{"version": "1", "default": "deny",\n'
            ' "tools": {"BinanceWalletWithdraw": {"deny_if": [{"conditions": []}]}}}\n',
        ),
        Key(
            "resources", "mapping", "—", "see [resources and prompts](#surface)",
            "As in Dialect A.",
            '{"version": "1", "default": "allow", "resources": {"deny": ["file:///etc/*"]},\n'
            ' "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
        Key(
            "prompts", "mapping", "—", "see [resources and prompts](#surface)",
            "As in Dialect A.",
            '{"version": "1", "default": "allow", "prompts": {"hide": ["admin_*"]},\n'
            ' "all_tools": {"limits": [' + _B_LIMIT + "]}}\n",
        ),
    ),
)  # fmt: skip

_B_ALL_TOOLS = Section(
    "b-all-tools",
    "`all_tools`",
    B,
    "Counters shared by every tool (the rule ids are `/all_tools/limits/N`).",
    policylayer.ALL_TOOLS_KEYS,
    (
        Key(
            "limits", "list of [limits](#b-limit)", "`[]`", "limits",
            "Checked after the tool's own entries and limits.",
            '{"version": "1", "default": "allow",\n'
            ' "all_tools": {"limits": [{"counter": "all", "window": "hour", "max": 1000,'
            ' "scope": "grant"}]}}\n',
        ),
    ),
)  # fmt: skip

_B_TOOL = Section(
    "b-tool",
    "Tool entry (`tools.<name>`)",
    B,
    "Evaluated in this order: `require` entries, `deny_if` entries, `limits`, then "
    "`all_tools.limits`; the first that denies decides. Rule ids are JSON Pointers "
    "(`/tools/BinanceNewOrder/deny_if/0`).",
    policylayer.TOOL_KEYS,
    (
        Key(
            "require", "list of [entries](#b-entry)", "`[]`", "entries",
            "Each entry's conditions must all hold, else deny with its `on_deny`.",
            '{"version": "1", "default": "deny", "tools": {"BinanceNewOrder": {"require": [\n'
            '  {"conditions": [{"path": "args.type", "op": "eq", "value": "LIMIT"}],\n'
            '   "on_deny": "Limit orders only"}]}}}\n',
        ),
        Key(
            "deny_if", "list of [entries](#b-entry)", "`[]`", "entries",
            "Deny when all of an entry's conditions hold; an entry with `[]` denies every call.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder": {"deny_if": [\n'
            '  {"conditions": [{"path": "args.quantity", "op": "gt", "value": 1}]}]}}}\n',
        ),
        Key(
            "limits", "list of [limits](#b-limit)", "`[]`", "limits",
            "Call counts for this tool; reserved together, atomically, for an allowed call.",
            '{"version": "1", "default": "allow", "tools": {"BinancePutUserDataStream":\n'
            '  {"limits": [{"counter": "keepalive", "window": "minute", "max": 30}]}}}\n',
        ),
    ),
)  # fmt: skip

_B_ENTRY = Section(
    "b-entry",
    "`require` / `deny_if` entry",
    B,
    "One entry of a tool's `require` or `deny_if` list.",
    policylayer_rules.ENTRY_KEYS,
    (
        Key(
            "conditions", "list of [conditions](#condition)", "required", "conditions",
            "The same conditions as Dialect A's, every extension included.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder": {"require": [\n'
            '  {"conditions": [{"path": "args.symbol", "op": "ends_with", "value": "USDT"}]}'
            "]}}}\n",
        ),
        Key(
            "on_deny", "string", "an engine message", "any text",
            "The message the agent sees when this entry denies.",
            '{"version": "1", "default": "allow", "tools": {"BinanceWalletWithdraw":\n'
            '  {"deny_if": [{"conditions": [], "on_deny": "Withdrawals are manual"}]}}}\n',
        ),
    ),
)  # fmt: skip

_B_LIMIT_SECTION = Section(
    "b-limit",
    "Limit (`limits[]`)",
    B,
    "At most `max` calls per fixed UTC window, checked like `rate_limit` (the value before the "
    "call must be below `max`).",
    policylayer_rules.LIMIT_KEYS,
    (
        Key(
            "counter", "string", "required", "a name, unique among the tool's limits",
            "Names the counter.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder":\n'
            '  {"limits": [{"counter": "orders", "window": "day", "max": 200}]}}}\n',
        ),
        Key(
            "window", "string", "required", _one_of(list(policylayer_rules.WINDOWS)),
            "The fixed, UTC-aligned window.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder":\n'
            '  {"limits": [{"counter": "orders", "window": "hour", "max": 50}]}}}\n',
        ),
        Key(
            "max", "integer", "required", "a whole number > 0",
            "Calls admitted per window.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder":\n'
            '  {"limits": [{"counter": "orders", "window": "minute", "max": 10}]}}}\n',
        ),
        Key(
            "scope", "string", "`global`", _one_of(list(policylayer_rules.SCOPES)),
            "`grant` is PolicyLayer's per-grant counting; toolgate counts it per identity (a "
            "call without an identity is refused). `identity` and `session` are toolgate's.",
            '{"version": "1", "default": "allow", "tools": {"BinancePutUserDataStream":\n'
            '  {"limits": [{"counter": "k", "window": "minute", "max": 30, "scope": "grant"}]}}}\n',
        ),
        Key(
            "on_deny", "string", "an engine message", "any text",
            "Replaces the engine's message when the limit is reached.",
            '{"version": "1", "default": "allow", "tools": {"BinanceNewOrder":\n'
            '  {"limits": [{"counter": "orders", "window": "minute", "max": 10,\n'
            '               "on_deny": "10 orders a minute at most"}]}}}\n',
        ),
    ),
)  # fmt: skip

SECTIONS: tuple[Section, ...] = (
    _A_TOP, _A_TOOL, _A_RULE, _CONDITION, _A_RATE, _A_STATE, _A_SPEND, _SCOPING, _A_APPROVALS,
    _A_NOTIFY, _A_WEBHOOK, _A_CLASSIFY, _SURFACE, _B_TOP, _B_ALL_TOOLS, _B_TOOL, _B_ENTRY,
    _B_LIMIT_SECTION,
)  # fmt: skip

# --- Operators ----------------------------------------------------------------------------------

OPERATORS: dict[str, str] = {
    "eq": "equal (typed: a string never equals a number)",
    "neq": "not equal",
    "in": "equal to one of the listed values",
    "not_in": "equal to none of the listed values",
    "lt": "less than (exact decimals; a numeric string compares as its number)",
    "lte": "less than or equal",
    "gt": "greater than",
    "gte": "greater than or equal",
    "regex": "the string matches the regular expression (linear-time engine)",
    "contains": "the string contains the substring, or the list contains the value",
    "exists": "`value: true`: the path is present; `value: false`: it is missing",
    "starts_with": "the string starts with the text",
    "ends_with": "the string ends with the text",
    "glob": "the string matches the glob (`*`, `?`)",
    "not_contains": "the string does not contain the substring (nor the list the value)",
    "len_lte": "the length of the string or list is at most the number",
    "len_gte": "the length of the string or list is at least the number",
}

PATHS: tuple[tuple[str, str], ...] = (
    ("args.<name>", "an argument; `.` for nested keys, `[N]` for an element, `[*]` for any"),
    ("state.<tool>.<counter>", 'a declared counter before this call (`_global` for `"*"`)'),
    ("identity.name", "the caller's identity (missing without one)"),
    ("identity.<attribute>", "another attribute of the identity"),
    (
        "tool.category",
        "the tool's category: `classify`, else the classifier on its listed definition",
    ),
    ("tool.risk", "derived from the category: `low`, `medium`, `high`, `critical`"),
    ("time.hour", "UTC hour of the gateway clock, 0–23"),
    ("time.minute", "UTC minute, 0–59"),
    ("time.weekday", "UTC day of the week, 0 = Monday … 6 = Sunday"),
)


def coverage_problems() -> list[str]:
    """Every key a validator accepts but the reference does not document, and vice versa."""
    problems: list[str] = []
    by_id = {section.id: section for section in SECTIONS}
    for section in SECTIONS:
        documented = list(section.own())
        for shared in section.shared:
            documented += by_id[shared].own()
        for name in sorted(set(documented) - set(section.accepted)):
            problems.append(f"{section.id}: {name!r} is documented but not accepted")
        for name in sorted(set(section.accepted) - set(documented)):
            problems.append(f"{section.id}: {name!r} is accepted but not documented")
        if len(documented) != len(set(documented)):
            problems.append(f"{section.id}: a key is documented twice")
    for name in sorted(set(OP_NAMES) ^ set(OPERATORS)):
        problems.append(f"operator {name!r}: documented and accepted differ")
    return problems


def examples() -> list[tuple[str, str, str]]:
    """(where, file name, policy text) of every example in the reference."""
    found: list[tuple[str, str, str]] = []
    for section in SECTIONS:
        suffix = "json" if section.syntax == "json" else "yaml"
        if section.example:
            found.append((section.id, f"{section.id}.{suffix}", section.example))
        for key in section.keys:
            found.append(
                (f"{section.id}.{key.name}", f"{section.id}-{key.name}.{suffix}", key.example)
            )
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section_text(section: Section, by_id: dict[str, Section]) -> list[str]:
    lines = [f'<a id="{section.id}"></a>', "", f"## {section.title} — {section.dialect}", ""]
    lines += [section.intro, ""]
    if section.example:
        lines += [f"```{section.syntax}", section.example.rstrip("\n"), "```", ""]
    if section.keys:
        lines += ["| key | type | default | allowed values |", "|---|---|---|---|"]
        for key in section.keys:
            anchor = f"{section.id}-{key.name}"
            cells = (f"[`{key.name}`](#{anchor})", key.type, key.default, key.allowed)
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        for shared in section.shared:
            other = by_id[shared]
            names = ", ".join(f"[`{k.name}`](#{other.id}-{k.name})" for k in other.keys)
            lines.append(f"| {names} | | | see [{_cell(other.title)}](#{other.id}) |")
        lines.append("")
    for key in section.keys:
        lines += [f'<a id="{section.id}-{key.name}"></a>', ""]
        lines += [f"### `{key.name}`", ""]
        facts = f"*{key.type}* · default: {key.default} · values: {key.allowed}"
        lines += [facts, "", key.doc, ""]
        lines += [f"```{section.syntax}", key.example.rstrip("\n"), "```", ""]
    return lines


def render_reference() -> str:
    """The text of docs/policy-reference.md."""
    by_id = {section.id: section for section in SECTIONS}
    lines = [
        "# Policy reference",
        "",
        "<!-- Generated by docs/gen_reference.py from src/toolgate/policy/reference.py;"
        " do not edit. -->",
        "",
        "Every key of both policy dialects, once, grouped by the mapping it appears in, with its "
        "type, default, allowed values and a complete policy that uses it (each example is "
        "checked by the test suite with the real loader). The guide is [policy.md](policy.md); "
        "recipes are in the [cookbook](cookbook.md).",
        "",
    ]
    for dialect in (A, BOTH, B):
        names = [f"[{s.title}](#{s.id})" for s in SECTIONS if s.dialect == dialect]
        lines.append(f"- **{dialect}:** " + " · ".join(names))
    lines += ["- [Operators](#operators) · [Paths](#paths)", ""]
    for section in SECTIONS:
        lines += _section_text(section, by_id)
    lines += ['<a id="operators"></a>', "", "## Operators — both dialects", ""]
    lines += ["| `op` | holds when the value at `path` … |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(OPERATORS[name])} |" for name in OP_NAMES]
    lines += ["", "Every operator but `exists` is false on a missing value.", ""]
    lines += ['<a id="paths"></a>', "", "## Paths — both dialects", ""]
    lines += ["| path | reads |", "|---|---|"]
    lines += [f"| `{path}` | {_cell(text)} |" for path, text in PATHS]
    return "\n".join(lines) + "\n"
