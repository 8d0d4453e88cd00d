"""The classifier's word lists: which name tokens, description words and argument names point
to which risk class. Data only; the rules that use it live in the classify_* modules.

Every entry is a whole lower-case token (identifiers are split before lookup), never a
substring: "charge" matches the token ``charge`` and nothing inside ``code_planner``.
"""

from __future__ import annotations

from toolgate.catalog.model import Category


def word_set(text: str) -> frozenset[str]:
    """A set of whole words written as one space-separated string, for readability."""
    return frozenset(text.split())


# Verbs that decide a class on their own wherever they stand in a name.
READ_VERBS = word_set(
    "get list query fetch retrieve read search find describe show check view lookup count "
    "inspect diff ping browse peek preview verify validate explain estimate calculate compute "
    "export download watch"
)
WRITE_VERBS = word_set(
    "create new add update set put edit modify change enable disable toggle rename move write "
    "save insert upsert submit apply commit checkout register extend renew mark assign upload "
    "tag label post patch replace attach detach close keepalive accept approve claim subscribe "
    "unsubscribe send make initiate place confirm configure copy merge push publish invite "
    "archive restore import schedule reply comment pin lock unlock sync stage unstage init "
    "fork clone"
)
EXECUTE_VERBS = word_set(
    "run exec execute eval evaluate invoke trigger start launch spawn connect call deploy "
    "restart reboot compile interpret navigate"
)
DESTRUCTIVE_VERBS = word_set(
    "delete remove drop purge destroy erase wipe truncate cancel revoke terminate kill reset "
    "overwrite uninstall unlink rm del flush void evict shred prune expunge"
)
STRONG_VERBS: dict[str, Category] = {
    **{verb: Category.READ for verb in READ_VERBS},
    **{verb: Category.WRITE for verb in WRITE_VERBS},
    **{verb: Category.EXECUTE for verb in EXECUTE_VERBS},
    **{verb: Category.DESTRUCTIVE for verb in DESTRUCTIVE_VERBS},
}

# Description-only verbs: how descriptions phrase a plain read ("Returns the sum ...").
DESCRIPTION_READ_VERBS = word_set("return provide display")

# "open" runs something only when what is opened is a connection-like thing.
OPEN_OBJECTS = word_set(
    "connection socket session browser tunnel shell terminal url page tab port stream"
)

# Money words that are both verbs and nouns ("withdraw", "transfer", "order"): they make a
# change Financial, but as modifiers of a listing ("withdraw history") they are only nouns.
FINANCIAL_TERMS = word_set(
    "order trade buy sell pay payment charge refund transfer withdraw withdrawal deposit borrow "
    "repay loan lend margin leverage redeem stake staking unstake swap purchase invest payout "
    "remit remittance reward rewards position sale resale"
)
# Money words only in a money context: "convert dust assets" is, "convert time" is not.
CONDITIONAL_FINANCIAL_TERMS = word_set("convert conversion exchange")
MONEY_CONTEXT = word_set(
    "asset assets coin coins currency currencies fiat crypto funds fund money usd usdt btc bnb "
    "eth sol balance wallet price amount dust token tokens"
)

# Nouns that make a verb-less name a listing or a lookup ("WithdrawHistory", "StatisticList").
READ_NOUNS = word_set(
    "history list log logs status info information detail details record records balance "
    "balances snapshot quota stats statistic statistics summary metadata report tree whitelist "
    "time"
)

# Objects whose loss costs nothing: a new one can be requested (listen keys, sessions).
EPHEMERAL_PHRASES: tuple[tuple[str, ...], ...] = (
    ("listen", "key"),
    ("keep", "alive"),
    ("keepalive",),
    ("session",),
)
# Description phrases that say what a tool does beyond its leading verb.
DESCRIPTION_PHRASES: tuple[tuple[tuple[str, ...], Category, str], ...] = (
    (("keep", "alive"), Category.WRITE, "keep-alive"),
    (("extend", "the", "validity"), Category.WRITE, "keep-alive (extends validity)"),
    (("listen", "key"), Category.WRITE, "listen key"),
    (("long", "running", "operation"), Category.EXECUTE, "long-running operation"),
    (("task", "based", "operations"), Category.EXECUTE, "task-based operation"),
    (("cannot", "be", "undone"), Category.DESTRUCTIVE, "cannot be undone"),
    (("permanently",), Category.DESTRUCTIVE, "permanently"),
    (("irreversibly",), Category.DESTRUCTIVE, "irreversibly"),
)

# Name tokens that are vendor or code-generation prefixes, not meaning.
VENDOR_PREFIXES = word_set(
    "binance bn stripe github gh gitlab slack notion jira linear aws gcp azure cloudflare cf mcp"
)
GENERATED_PREFIXES = frozenset({"register"})  # registerBinanceGetX: a generator's artefact

# Words around a description's object phrase.
DETERMINERS = word_set("a an the all your their its this these those new existing")
OBJECT_STOPS = word_set(
    "using for by with to on in from of into via at as that which and or if when"
)

# Argument names (split into tokens) and what they signal.
AMOUNT_ARGS = word_set("amount price quantity qty notional cost")
VALUE_ARG = "value"  # an amount only with a money word beside it ("orderValue", "usdValue")
CREDENTIAL_ARGS = word_set("secret password passwd passphrase credential credentials")
CREDENTIAL_PAIRS = frozenset(
    {("api", "key"), ("apikey",), ("private", "key"), ("access", "token"), ("auth", "token")}
)
PATH_ARGS = word_set("path paths file files filename filepath dir directory folder")
CODE_ARGS = word_set("sql code command cmd script expression shell program")
QUERY_ARGS = frozenset({"query"})
URL_ARGS = word_set("url uri urls endpoint href webhook host")
BULK_WORDS = word_set("all bulk batch multiple mass many")
DATABASE_NOUNS = word_set(
    "table tables row rows database db collection document documents column columns"
)
