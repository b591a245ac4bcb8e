"""What the tests share, imported as ``support.*`` (``tests/`` is on pytest's ``pythonpath``):
the travel tools of the paper's example, tools that fail, sounds, real kernels' directories, the
browser kit, the fault report, the property-based testing kit and memory measurement. Fakes that
benchmarks and users need too (the loopback OpenAI/Anthropic server) ship in
:mod:`ipyagent.testing` instead."""
