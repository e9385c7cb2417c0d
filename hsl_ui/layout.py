"""Page layout at every width: headline cards that wrap, a sidebar closed on narrow screens.

`apply()` runs once a script run (app.py), before the page draws; pages lay out their
headline cards with `cards(n)`.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

NARROW_PX = 1000  # below this window width the sidebar starts closed (it can be opened)
CARD_PX = 140  # the narrowest a headline card gets before the cards wrap onto a new row

# Streamlit cuts a metric's label, value and delta to one line with "…"; here they wrap.
# The hidden element is this module's own script (below), drawn at the top of the page.
# On a narrow screen the page keeps half of Streamlit's side margins: a table of nine
# columns fits at 800 px.
_STYLE = """
<style>
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *,
[data-testid="stMetricValue"], [data-testid="stMetricValue"] *,
[data-testid="stMetricDelta"], [data-testid="stMetricDelta"] * {
  white-space: normal !important;
  overflow: visible !important;
  text-overflow: clip !important;
  overflow-wrap: break-word;
}
[data-testid="stMetricLabel"] { height: auto !important; min-height: 1.5rem; }
[data-testid="stMetricDelta"] { height: auto !important; }
[data-testid="stElementContainer"]:has(.hsl-layout-script) { display: none; }
@media (max-width: NARROW_MAXpx) {
  [data-testid="stMainBlockContainer"] { padding-left: 0.5rem; padding-right: 0.5rem; }
}
</style>
""".replace("NARROW_MAX", str(NARROW_PX - 1))

# Streamlit's own "auto" sidebar closes only at phone widths (768 px and less). On a page
# load in a window narrower than NARROW_PX, and when a window is made that narrow, this
# closes it with its own button (so "»" opens it again), then puts back the choice Streamlit
# remembers in localStorage: the closing is ours, not the person's.
_SCRIPT = """
<span class="hsl-layout-script"></span>
<script>
(() => {
  if (window.hslLayout) return;
  window.hslLayout = true;
  const NARROW = NARROW_PX;
  const KEY = "stSidebarCollapsed-";
  const remembered = () => Object.keys(localStorage).filter(k => k.startsWith(KEY))
    .map(k => [k, localStorage.getItem(k)]);
  const close = () => {
    const bar = document.querySelector('[data-testid="stSidebar"]');
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (!bar || !button) return false;
    if (bar.getAttribute("data-collapsed") === "false") {
      const before = new Map(remembered());
      button.click();
      for (const [k] of remembered()) {
        if (before.has(k)) localStorage.setItem(k, before.get(k));
        else localStorage.removeItem(k);
      }
    }
    return true;
  };
  let tries = 0;
  const first = () => {
    if (window.innerWidth >= NARROW) return;
    if (!close() && ++tries < 50) setTimeout(first, 100);
  };
  first();
  let wide = window.innerWidth >= NARROW, timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const nowWide = window.innerWidth >= NARROW;
      if (!nowWide && (wide || remembered().length === 0)) close();
      wide = nowWide;
    }, 300);
  });
})();
</script>
""".replace("NARROW_PX", str(NARROW_PX))


def apply() -> None:
    """Draw the app's layout rules (CSS) and the script that closes the sidebar when narrow."""
    st.html(_STYLE)
    st.html(_SCRIPT, unsafe_allow_javascript=True)


def cards(n: int) -> list[DeltaGenerator]:
    """Return `n` slots for headline cards (st.metric, border=True) in one row that wraps.

    The cards stay in one row while each can be at least CARD_PX wide, and flow onto more
    rows on a narrower screen, so a label, value or delta is never cut to "…".
    """
    grid = st.grid(n, min_column_width=CARD_PX, gap="xsmall")
    return [grid.cell() for _ in range(n)]
