"""Protocol faces: each speaks one exchange's REST protocol over the shared matching core.

Register a face with one import and one line in FACES (the server looks faces up by name here).
"""

from __future__ import annotations

from bot.sim.faces.alpaca import AlpacaFace
from bot.sim.faces.base import Face, SimRequest, SimResponse
from bot.sim.faces.coinbase import CoinbaseFace
from bot.sim.faces.kraken import KrakenFace

FACES: dict[str, type[Face]] = {
    "kraken": KrakenFace,
    "coinbase": CoinbaseFace,
    "alpaca": AlpacaFace,
}

__all__ = ["FACES", "Face", "SimRequest", "SimResponse"]
