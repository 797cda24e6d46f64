"""The experiment scripts, run as `python experiments/NAME.py` from the repository root.

A package so that tests import them as `from experiments import NAME`; they import
pl_jax as installed (requirements.txt's `-e .`) and none imports another.
"""
