"""How tiers and scores look, defined once for the terminal, Markdown and HTML.

One colour per tier everywhere: green (call now), cyan (drive adoption), yellow (self-serve), grey (nurture).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TierStyle:
    text: str  # rich style for the tier's name or label
    bar: str  # rich colour for its bars
    hex: str  # the same colour in HTML


TIER_STYLES = {
    "tier1": TierStyle(text="bold green", bar="green", hex="#1a7f37"),
    "tier2": TierStyle(text="cyan", bar="cyan", hex="#1b7c83"),
    "tier3": TierStyle(text="yellow", bar="yellow", hex="#bf8700"),
    "tier4": TierStyle(text="bright_black", bar="bright_black", hex="#8c959f"),
}
NO_STYLE = TierStyle(text="", bar="", hex="#8c959f")
SCORE_STYLES = {"fit_score": "blue", "usage_score": "magenta"}
HEAT = ("#eef6ee", TIER_STYLES["tier1"].hex)  # the HTML heat map: empty -> full
BAR_WIDTH = 5
_BLOCKS = " ▏▎▍▌▋▊▉█"


def tier_style(key: str) -> TierStyle:
    """The style of a canonical tier key (tier1..tier4); unknown tiers are unstyled."""
    return TIER_STYLES.get(key, NO_STYLE)


def score_bar(value: float | None, width: int = BAR_WIDTH) -> str:
    """A 0..100 score as a bar of ``width`` cells with eighth-block precision."""
    if value is None:
        return " " * width
    eighths = round(max(0.0, min(100.0, float(value))) / 100 * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_BLOCKS[part] if part else "")
    return bar.ljust(width)
