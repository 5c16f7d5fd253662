"""Credit packs, as the settings sell them: `CREDIT_PACKS="5:5.00,20:18.00,100:80.00"` is credits and
their price in CREDIT_CURRENCY. Read without Django (the settings parse them at start), strictly: a
deployment with a pack it cannot sell stops at once, naming the variable."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from billing.pricing import MICRO, PRICE_PER_SECOND, AmountError, credits_format, credits_parse
from strictenv import ImproperlyConfiguredEnv, env_str

# Stripe's currencies without minor units (an amount of 500 JPY is sent as 500, not 50000), and those
# with three decimals, which Stripe rounds in ways a fixed price should not meet: not sold here.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()  # noqa: SIM905 (a list as Stripe's docs give it)
)
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())  # noqa: SIM905
# Checkout's own limit for one payment is 999,999.99 in a two-decimal currency.
PRICE_MINOR_MAX = 99_999_999


@dataclass(frozen=True)
class CreditPack:
    key: str  # the credits as written, e.g. "20": what the Buy form names
    credits: int  # micro-credits
    price: int  # in the currency's minor unit (cents), as Stripe takes it
    currency: str

    @property
    def price_text(self) -> str:
        return price_format(self.price, self.currency)

    @property
    def audio_hours(self) -> float:
        """How much speech the pack buys, at PRICE_PER_SECOND."""
        return self.credits / PRICE_PER_SECOND / 3600


def price_format(amount: int, currency: str) -> str:
    """An amount in a currency's minor unit, for people: 18.00 USD."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:,} {currency.upper()}"
    return f"{amount // 100:,}.{amount % 100:02d} {currency.upper()}"


def currency_parse(name: str, value: str) -> str:
    currency = value.strip().lower()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a three-letter ISO currency code (e.g. usd)")
    if currency in THREE_DECIMAL_CURRENCIES:
        raise ImproperlyConfiguredEnv(f"{name}={value!r}: three-decimal currencies are not supported")
    return currency


def _price_parse(name: str, text: str, currency: str) -> int:
    decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ImproperlyConfiguredEnv(f"{name}: price {text!r} is not a number") from None
    if not price.is_finite() or price <= 0:
        raise ImproperlyConfiguredEnv(f"{name}: price {text!r} must be above zero")
    minor = price.scaleb(decimals)
    if minor != minor.to_integral_value():
        raise ImproperlyConfiguredEnv(f"{name}: price {text!r} has more than {decimals} decimals for {currency}")
    if minor > PRICE_MINOR_MAX:
        raise ImproperlyConfiguredEnv(f"{name}: price {text!r} is beyond what one Checkout payment takes")
    return int(minor)


def credit_packs_parse(text: str, *, currency: str, name: str = "CREDIT_PACKS") -> tuple[CreditPack, ...]:
    """ "credits:price,..." into packs; an empty text sells nothing. Every mistake (a missing colon,
    a pack of no credits, a price of more decimals than the currency has, the same pack twice) is
    an ImproperlyConfiguredEnv naming the variable."""
    packs: dict[str, CreditPack] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        credits_text, colon, price_text = item.partition(":")
        if not colon:
            raise ImproperlyConfiguredEnv(f"{name}: {item!r} is not credits:price (e.g. 20:18.00)")
        try:
            credits = credits_parse(credits_text)
        except AmountError as error:
            raise ImproperlyConfiguredEnv(f"{name}: {item!r}: {error}") from None
        if credits <= 0:
            raise ImproperlyConfiguredEnv(f"{name}: {item!r} must buy more than zero credits")
        key = credits_format(credits).rstrip("0").rstrip(".") if credits % MICRO else str(credits // MICRO)
        if key in packs:
            raise ImproperlyConfiguredEnv(f"{name}: the pack of {key} credits is given twice")
        packs[key] = CreditPack(key, credits, _price_parse(name, price_text.strip(), currency), currency)
    return tuple(packs.values())


def credit_packs_from_env() -> tuple[str, tuple[CreditPack, ...]]:
    """CREDIT_CURRENCY and CREDIT_PACKS, for the settings."""
    currency = currency_parse("CREDIT_CURRENCY", env_str("CREDIT_CURRENCY", "usd"))
    return currency, credit_packs_parse(env_str("CREDIT_PACKS", "5:5.00,20:18.00,100:80.00"), currency=currency)
