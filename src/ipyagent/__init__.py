"""ipyagent: a Jupyter-native, real-time, asynchronous agent.

from ipyagent import Agent, tool
"""

from .agents import Agent
from .clock import Clock, RealClock, current_clock
from .dispatch.tools import Tool, tool
from .errors import IpyagentError
from .fsm import State
from .ledger import Entry, Ledger

__all__ = [
    "Agent",
    "Clock",
    "Entry",
    "IpyagentError",
    "Ledger",
    "RealClock",
    "State",
    "Tool",
    "current_clock",
    "tool",
]
__version__ = "0.1.0"
