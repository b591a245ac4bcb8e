"""Evaluating how well a model drives an asynchronous agent: scenario suites, a runner on a
virtual clock, metrics and reports. Run it as ``python -m ipyagent eval``."""

from .loader import find_suites, load_suite, parse_suite
from .metrics import CheckResult, ScenarioResult, Totals, score
from .report import export_jsonl, html_report, training_example
from .runner import HeldBackend, RunRecord, model_factory, reference_model, run_scenario
from .scenario import Check, Scenario, ScenarioError, SimTool, Step, Suite

__all__ = [
    "Check",
    "CheckResult",
    "HeldBackend",
    "RunRecord",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "SimTool",
    "Step",
    "Suite",
    "Totals",
    "export_jsonl",
    "find_suites",
    "html_report",
    "load_suite",
    "model_factory",
    "parse_suite",
    "reference_model",
    "run_scenario",
    "score",
    "training_example",
]
